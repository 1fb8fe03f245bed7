// Quoted text is one piece of the prompt, whatever it holds: `add todo "a; b"` is one todo, and
// `'X; DROP TABLE todos; --'` is a title, not three clauses. A URL is one piece too ("then" or ","
// inside it split nothing). Before the prompt is cut into clauses each such span is swapped for a
// token that contains no separator and no space; parsers turn a token back into the text as typed.

// Unicode noncharacters: never part of interchanged text, so a token cannot be mistaken for what
// the user typed (the few prompts that contain them lose them first).
const TOKEN_OPEN = "\uFDD0";
const TOKEN_CLOSE = "\uFDD1";
const TOKEN = /\uFDD0(\d+)\uFDD1/g;
const WHOLE_TOKEN = /^\uFDD0(\d+)\uFDD1$/;

/** Which closing marks end a span opened by each quote mark. */
// Backticks too: people paste titles the way they write code ("like `I have x bugs to fix`").
const CLOSERS: Readonly<Record<string, string>> = { '"': '"', "“": '”"', "”": "”", "„": "“”", "'": "'", "‘": "’'", "«": "»", "`": "`" };
/** A quote opens a span at the start or after a space or an opening punctuation mark ... */
const OPENS_AFTER = /[\s:([{=,;]/;
/** ... and closes it before the end, a space or punctuation, so "don't" and "kids' toys" stay words. */
const CLOSES_BEFORE = /[\s,.;:!?)\]}]/;

/** A URL runs to the next space; punctuation at its end belongs to the sentence. */
const URL_AT = /https?:\/\/[^\s<>"]+/iy;

function urlAt(source: string, i: number): string | undefined {
  if (i > 0 && !/[\s<(:]/.test(source[i - 1]!)) return undefined;
  URL_AT.lastIndex = i;
  return URL_AT.exec(source)?.[0].replace(/[.,;:!?)\]'"]+$/, "");
}

export interface Span {
  /** The text between the quote marks. */
  inner: string;
  /** The span with its quote marks. */
  raw: string;
}

export interface Masked {
  text: string;
  spans: Span[];
}

function closing(prompt: string, from: number, closers: string): number {
  for (let j = from; j < prompt.length; j++) {
    if (!closers.includes(prompt[j]!)) continue;
    const after = prompt[j + 1];
    if (after === undefined || CLOSES_BEFORE.test(after)) return j;
  }
  return -1;
}

export function maskQuotes(prompt: string): Masked {
  const source = prompt.replace(/[\uFDD0\uFDD1]/g, "");
  const spans: Span[] = [];
  // A mark with no closing mark after one position has none after any later one either: scan once.
  const unclosed = new Set<string>();
  let text = "";
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    const closers = CLOSERS[ch];
    if (closers && !unclosed.has(closers) && (i === 0 || OPENS_AFTER.test(source[i - 1]!))) {
      const end = closing(source, i + 1, closers);
      if (end === -1) unclosed.add(closers);
      if (end !== -1) {
        text += `${TOKEN_OPEN}${spans.length}${TOKEN_CLOSE}`;
        spans.push({ inner: source.slice(i + 1, end), raw: source.slice(i, end + 1) });
        i = end;
        continue;
      }
    }
    const url = urlAt(source, i);
    if (url) {
      text += `${TOKEN_OPEN}${spans.length}${TOKEN_CLOSE}`;
      spans.push({ inner: url, raw: url });
      i += url.length - 1;
      continue;
    }
    text += ch;
  }
  return { text, spans };
}

/** The text with every quoted span back as typed, quote marks included. */
export function restore(text: string, spans: readonly Span[]): string {
  return text.replace(TOKEN, (_m, n: string) => spans[Number(n)]?.raw ?? "");
}

/** The quoted text when `text` is exactly one quoted span, else undefined. */
export function quotedOnly(text: string, spans: readonly Span[]): string | undefined {
  const m = WHOLE_TOKEN.exec(text.trim());
  return m ? spans[Number(m[1])]?.inner : undefined;
}

export const hasQuote = (text: string) => text.includes(TOKEN_OPEN);

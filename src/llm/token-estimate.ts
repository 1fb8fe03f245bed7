// A bound on tokens without the model's tokenizer, for deciding before a call whether it can be
// afforded. Byte-level BPE tokenizers (GPT's, Llama's) never make more tokens than the text has
// UTF-8 bytes, and for English and JSON they average about 4 bytes a token; non-Latin text runs
// closer to 1–2 bytes a token. So the estimate is UTF-8 bytes / 3, rounded up: above the usual
// count for the prose and JSON an agent sends, while not so pessimistic that a step is refused
// after a few turns. It is an estimate: the real count comes from each response's usage.
export const BYTES_PER_TOKEN = 3;

const encoder = new TextEncoder();

export function estimateTokens(text: string): number {
  return Math.ceil(encoder.encode(text).byteLength / BYTES_PER_TOKEN);
}

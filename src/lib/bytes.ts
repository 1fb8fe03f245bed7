// Every size limit in Crane is in bytes (UTF-8), as the platform counts them: a queue message, a
// SQLite row, an RPC payload. A string's `.length` counts UTF-16 code units, which undercounts
// non-ASCII text up to threefold (a Chinese character is one unit and three bytes).
const encoder = new TextEncoder();

export const byteLength = (text: string): number => encoder.encode(text).byteLength;

/** The size of a value as JSON, in bytes (`undefined` counts as `null`). */
export const jsonBytes = (value: unknown): number => byteLength(JSON.stringify(value ?? null));

/** FNV-1a (32 bit) over the text's UTF-8 bytes: the same on every isolate, release and runtime (not for security). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

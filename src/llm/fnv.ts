import { fnv1a32 } from "../lib/fnv";

/** FNV-1a, 32 bits, as 8 hex digits: a short, synchronous, stable hash for names (not for security). */
export function fnv1a(text: string): string {
  return fnv1a32(text).toString(16).padStart(8, "0");
}

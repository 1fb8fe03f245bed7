// Step inputs and outputs are JSON: they travel in queue messages, RPC calls and the event log.
// Typing them as Json (not unknown) keeps RPC stub types exact, so callers need no casts.
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

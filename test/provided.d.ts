declare module "vitest" {
  export interface ProvidedContext {
    upstreamUrl: string;
    /** The local webhook receiver (test/webhooks/receiver.ts). */
    receiverUrl: string;
  }
}
export {};

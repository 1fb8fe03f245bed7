declare module "vitest" {
  export interface ProvidedContext {
    upstreamUrl: string;
  }
}
export {};

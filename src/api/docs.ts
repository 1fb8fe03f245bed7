import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import type { AppEnv } from "./app-env";
import { openApiDocument } from "./openapi-document";

/** GET /api/v1/openapi.json (API key) and the API reference page at /docs (Scalar). */
export const docsApi = new Hono<AppEnv>();

const document = openApiDocument();

docsApi.get("/api/v1/openapi.json", (c) => c.json(document));
// The page carries the document itself: /api/v1/openapi.json needs an API key like the rest of
// /api/v1, and the reference page is public documentation.
docsApi.get("/docs", Scalar({ content: document, pageTitle: "Crane API reference" }));

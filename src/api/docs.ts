import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import { openApiDocument } from "./openapi-document";

/** GET /api/v1/openapi.json and the API reference page at /docs (Scalar). */
export const docsApi = new Hono<{ Bindings: Env }>();

const document = openApiDocument();

docsApi.get("/api/v1/openapi.json", (c) => c.json(document));
docsApi.get("/docs", Scalar({ url: "/api/v1/openapi.json", pageTitle: "Crane API reference" }));

// The OpenAPI document at GET /api/v1/openapi.json and the API reference page at /docs
// (Scalar), both public and both serving the document app.ts builds from its routes.
import { createRoute, z } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { Hono, type MiddlewareHandler } from "hono";
import { ACCESS, createApi, jsonResponse, type OpenApiDocument } from "./openapi";

export function openApiJsonApi(document: () => OpenApiDocument) {
  const api = createApi();
  const getDocument = createRoute({
    method: "get",
    operationId: "getOpenApiDocument",
    path: "/openapi.json",
    tags: ["Docs"],
    summary: "This document",
    security: ACCESS.public.security,
    responses: { 200: jsonResponse(z.record(z.string(), z.unknown()), "OpenAPI 3.1"), ...ACCESS.public.responses },
  });
  return api.openapi(getDocument, (c) => c.json(document(), 200));
}

export function docsPageApi(document: () => OpenApiDocument) {
  // The page carries the document itself, so it works wherever the page is opened.
  let page: MiddlewareHandler | undefined;
  return new Hono().get("/docs", (c, next) => (page ??= Scalar({ content: document(), pageTitle: "Crane API reference" }))(c, next));
}

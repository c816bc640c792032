// Microsoft's npm SDKs, re-exported from the one package that installs them (this folder's
// package.json), so test files and benchmarks elsewhere in the tree resolve the same copies.
export * from "@azure/web-pubsub-client";
export { WebPubSubEventHandler } from "@azure/web-pubsub-express";
export { default as express } from "express";
export { WebPubSubServiceClient } from "@azure/web-pubsub";

export * from "./config.js";
export * from "./errors.js";
export * from "./model.js";
export * from "./parse/index.js";
export * from "./partial/index.js";
export * from "./sketch/index.js";
export * from "./wire/index.js";

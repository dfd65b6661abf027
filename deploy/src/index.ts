export * from "./config.js";
export * from "./endpoints.js";
export * from "./errors.js";
export * from "./influx.js";
export * from "./ports.js";
export * from "./provision/index.js";
export * from "./smoke/index.js";
export * from "./stack.js";

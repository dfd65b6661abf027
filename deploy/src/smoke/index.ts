export * from "./smoke.js";

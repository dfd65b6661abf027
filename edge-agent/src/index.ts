export {};
export * from "./tail/index.js";

export * from "./tail/index.js";

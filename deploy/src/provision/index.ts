export * from "./influx-database.js";
export * from "./topic.js";

export { Agent, type AgentOptions, type AgentTotals } from "./agent.js";
export {
  type AgentConfig,
  type AgentConfigInput,
  agentConfigSchema,
  loadAgentConfig,
  parseAgentConfig,
} from "./config.js";
export * from "./errors.js";
export { createKafkaSink, type PartialMessage, type PartialSink } from "./ship/kafka.js";
export * from "./tail/index.js";

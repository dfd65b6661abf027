export { CMS_DEFAULT_DEPTH, CMS_DEFAULT_WIDTH, CMS_MAX_DEPTH, CMS_MAX_WIDTH, CountMinSketch } from "./count-min.js";
export { DistinctCounter, HLL_MAX_RANK, HLL_PRECISION, HLL_REGISTERS } from "./distinct.js";
export { fmix32, hashLatin1Int32, hashString, hashStringInt32 } from "./hash.js";
export { compareStrings, HeavyKeys, type HeavyKeysOptions, type KeyCount } from "./heavy-keys.js";
export { LATENCY_MAX_US, LatencyHistogram } from "./latency.js";

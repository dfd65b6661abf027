import { hashString } from "../src/sketch/hash.js";
console.log(["10.0.0.1", "/index.html", "2001:db8::1"].map((s) => "0x" + hashString(s).toString(16)));

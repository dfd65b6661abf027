import { readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { RotatedSiblingPattern } from "./index.js";

const COMPRESSED = /\.(gz|zst|bz2|xz|lz4|zip)$/;

/** `access.log.1`, `access.log-20260101` are rotated siblings of `access.log`; `access.log.2.gz` is not (compressed). */
export const defaultRotatedSiblingPattern: RotatedSiblingPattern = (activePath, candidateName) => {
  const base = basename(activePath);
  return (
    candidateName.length > base.length + 1 &&
    candidateName.startsWith(base) &&
    (candidateName[base.length] === "." || candidateName[base.length] === "-") &&
    !COMPRESSED.test(candidateName)
  );
};

/** Paths of the rotated siblings of `activePath` (its directory vanishing is not an error: there are none). */
export async function rotatedSiblings(activePath: string, pattern: RotatedSiblingPattern): Promise<string[]> {
  const dir = dirname(activePath);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names.filter((name) => pattern(activePath, name)).map((name) => join(dir, name));
}

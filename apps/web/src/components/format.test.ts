import { describe, expect, it } from "vitest";

import { formatUptime } from "./format";

describe("formatUptime", () => {
  it.each([
    [0, "0s"],
    [12.9, "12s"],
    [247, "4m 7s"],
    [7_500, "2h 5m"],
    [3 * 86_400 + 4 * 3_600 + 59, "3d 4h"],
    [3_600, "1h"],
  ])("%s seconds -> %s", (seconds, expected) => {
    expect(formatUptime(seconds)).toBe(expected);
  });
});

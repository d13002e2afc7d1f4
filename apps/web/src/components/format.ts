/** "3d 4h", "2h 5m", "4m 7s", "12s": uptime at a glance. */
export function formatUptime(totalSeconds: number): string {
  const seconds = Math.floor(totalSeconds);
  const units: [string, number][] = [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  let rest = seconds;
  for (const [suffix, size] of units) {
    const value = Math.floor(rest / size);
    rest -= value * size;
    if (value > 0 || (parts.length === 0 && size === 1)) parts.push(`${value}${suffix}`);
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

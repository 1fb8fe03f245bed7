/**
 * Whether a URL host (as the WHATWG URL parser normalises it: IPv4 in dotted decimal, IPv6 in
 * brackets) names a private, loopback, link-local or otherwise non-public destination. Http.get
 * refuses those unless the exact host:port is allowlisted, so a prompt cannot reach the
 * machine's own services or a cloud metadata endpoint. Returns a short reason, or undefined for a
 * public address or an ordinary host name.
 */
type Range = readonly [base: number, bits: number, reason: string];

const V4_RANGES: Range[] = [
  [ip4(0, 0, 0, 0), 8, "unspecified"],
  [ip4(10, 0, 0, 0), 8, "private"],
  [ip4(100, 64, 0, 0), 10, "shared (carrier-grade NAT)"],
  [ip4(127, 0, 0, 0), 8, "loopback"],
  [ip4(169, 254, 169, 254), 32, "cloud metadata"],
  [ip4(169, 254, 0, 0), 16, "link-local"],
  [ip4(172, 16, 0, 0), 12, "private"],
  [ip4(192, 0, 0, 0), 24, "IETF protocol assignment"],
  [ip4(192, 168, 0, 0), 16, "private"],
  [ip4(198, 18, 0, 0), 15, "benchmarking"],
  [ip4(224, 0, 0, 0), 4, "multicast"],
  [ip4(240, 0, 0, 0), 4, "reserved"],
];

function ip4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function parseIp4(host: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? ip4(parts[0]!, parts[1]!, parts[2]!, parts[3]!) : undefined;
}

function v4Reason(addr: number): string | undefined {
  for (const [base, bits, reason] of V4_RANGES) {
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    if ((addr & mask) >>> 0 === base) return reason;
  }
  return undefined;
}

/** Eight 16-bit groups of an IPv6 address (an embedded dotted IPv4 tail allowed), or undefined. */
function parseIp6(text: string): number[] | undefined {
  let s = text.toLowerCase();
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (v4) {
    const n = parseIp4(v4[1]!);
    if (n === undefined) return undefined;
    s = `${s.slice(0, -v4[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill("0"), ...tail];
  if (all.length !== 8 || !all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => parseInt(g, 16));
}

/**
 * The kind of IPv6 address that carries an IPv4 address in its last 32 bits, and is then judged
 * by it, or undefined: a public IPv4 inside is as public as itself.
 */
function v4Carrier(g: number[]): string | undefined {
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return "IPv4-mapped"; // ::ffff:a.b.c.d
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return "IPv4-translated"; // ::ffff:0:a.b.c.d
  if (zero(0, 6)) return "IPv4-compatible"; // ::a.b.c.d (deprecated, still parsed)
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return "NAT64"; // 64:ff9b::a.b.c.d
  return undefined;
}

function v6Reason(g: number[]): string | undefined {
  if (g.every((x) => x === 0)) return "unspecified";
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return "loopback";
  const carrier = v4Carrier(g);
  if (carrier) {
    const r = v4Reason(((g[6]! << 16) | g[7]!) >>> 0);
    return r ? `${carrier} ${r}` : undefined;
  }
  if ((g[0]! & 0xfe00) === 0xfc00) return "unique-local";
  if ((g[0]! & 0xffc0) === 0xfe80) return "link-local";
  if ((g[0]! & 0xffc0) === 0xfec0) return "site-local";
  if ((g[0]! & 0xff00) === 0xff00) return "multicast";
  if (g[0] === 0x2001 && g[1] === 0x0db8) return "documentation";
  return undefined;
}

export function nonPublicAddress(hostname: string): string | undefined {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  // metadata.google.internal and other cloud-internal names end in .internal; mDNS names in .local.
  if (host.endsWith(".internal") || host.endsWith(".local")) return "private";
  if (host === "255.255.255.255") return "broadcast";
  const v4 = parseIp4(host);
  if (v4 !== undefined) return v4Reason(v4);
  if (host.startsWith("[") && host.endsWith("]")) {
    const groups = parseIp6(host.slice(1, -1).replace(/%.*$/, ""));
    return groups ? v6Reason(groups) : "unparseable IPv6";
  }
  return undefined;
}

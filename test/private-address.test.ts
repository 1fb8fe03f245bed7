import { describe, expect, it } from "vitest";
import { nonPublicAddress } from "../src/tools/http-get/private-address";

// Hosts as the URL parser hands them over (new URL(u).hostname), so odd spellings are included.
const host = (u: string) => new URL(u).hostname;

describe("nonPublicAddress", () => {
  it.each([
    ["http://127.0.0.1/", "loopback"],
    ["http://127.255.1.2/", "loopback"],
    ["http://2130706433/", "loopback"], // decimal 127.0.0.1
    ["http://0x7f.1/", "loopback"], // hex and short forms
    ["http://127.1/", "loopback"],
    ["http://0.0.0.0/", "unspecified"],
    ["http://10.1.2.3/", "private"],
    ["http://172.16.0.1/", "private"],
    ["http://172.31.255.255/", "private"],
    ["http://192.168.0.10/", "private"],
    ["http://100.64.0.1/", "shared (carrier-grade NAT)"],
    ["http://169.254.1.1/", "link-local"],
    ["http://169.254.169.254/", "cloud metadata"],
    ["http://192.0.0.8/", "IETF protocol assignment"],
    ["http://198.18.0.1/", "benchmarking"],
    ["http://224.0.0.1/", "multicast"],
    ["http://240.0.0.1/", "reserved"],
    ["http://255.255.255.255/", "broadcast"],
    ["http://[::1]/", "loopback"],
    ["http://[::]/", "unspecified"],
    ["http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"],
    ["http://[::ffff:7f00:1]/", "IPv4-mapped loopback"],
    ["http://[::ffff:a9fe:a9fe]/", "IPv4-mapped cloud metadata"],
    ["http://[64:ff9b::10.0.0.1]/", "NAT64 private"],
    ["http://[64:ff9b::a9fe:a9fe]/", "NAT64 cloud metadata"],
    ["http://[::127.0.0.1]/", "IPv4-compatible loopback"],
    ["http://[::ffff:0:10.0.0.1]/", "IPv4-translated private"],
    ["http://0177.0.0.1/", "loopback"], // octal
    ["http://127.0.0.1./", "loopback"],
    ["http://0/", "unspecified"],
    ["http://3232235777/", "private"], // decimal 192.168.1.1
    ["http://0xa9fea9fe/", "cloud metadata"], // hex 169.254.169.254
    ["http://[fc00::1]/", "unique-local"],
    ["http://[fd12:3456::1]/", "unique-local"],
    ["http://[fe80::1]/", "link-local"],
    ["http://[ff02::1]/", "multicast"],
    ["http://localhost/", "loopback"],
    ["http://localhost./", "loopback"],
    ["http://api.localhost/", "loopback"],
    ["http://metadata.google.internal/", "private"],
    ["http://printer.local/", "private"],
  ])("%s is %s", (url, reason) => {
    expect(nonPublicAddress(host(url))).toBe(reason);
  });

  it.each([
    "http://8.8.8.8/",
    "http://1.1.1.1/",
    "http://[2606:4700::1111]/",
    "http://example.com/",
    "http://172.32.0.1/",
    "http://100.128.0.1/",
    "http://11.0.0.1/",
    "http://169.253.255.255/",
    "http://[::ffff:8.8.8.8]/",
    "http://[64:ff9b::8.8.8.8]/",
    "http://[2a00:1450::1]/",
    "http://localhost.example.com/",
    "http://internal/",
  ])("%s is public", (url) => {
    expect(nonPublicAddress(host(url))).toBeUndefined();
  });

  // What the check actually receives: the runtime's URL parser rewrites these before Http.get sees them.
  it.each([
    ["http://2130706433/", "127.0.0.1"],
    ["http://0x7f.1/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://127.0.0.1./", "127.0.0.1"],
    ["http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"],
    ["http://[0:0:0:0:0:0:0:1]/", "[::1]"],
    ["http://LOCALHOST./", "localhost."],
  ])("the URL parser hands %s over as %s", (url, normalised) => {
    expect(host(url)).toBe(normalised);
  });
});

import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium, headless. This machine has no network beyond loopback: keep Chromium from trying. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    // Playwright hides scrollbars by default (for stable screenshots); the console's screenshots
    // should show what a person sees, and a box that scrolls without a visible bar is a bug to see.
    ignoreDefaultArgs: ["--hide-scrollbars"],
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

// Decision links in workerd: a pair of single-use URLs that decide a waiting Human.approve step
// without an API key. The page a GET opens changes nothing; its POST decides once; the pair is
// spent together; links end with the step's wait (time moved with the run object's clock).
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createRun, errorOf, getRun, newApiKey } from "../helpers";
import { advanceClock, events } from "./harness";

const HOUR_S = 3600;

const approvalPlan = (message = "Ship release 1.2 to production?") => ({
  plan: {
    steps: [
      { step_number: 1, tool: "Human.approve", input: { message, timeout_seconds: HOUR_S } },
      { step_number: 2, tool: "Calculator.evaluate", input: { expression: "6 * 7" }, depends_on: [1] },
    ],
  },
});

interface Links {
  approve_url: string;
  reject_url: string;
  expires_at: string;
}

async function links(runId: string, step = 1, key?: string): Promise<Response> {
  return api(`/runs/${runId}/steps/${step}/decision-link`, { method: "POST", ...(key ? { key } : {}) });
}

async function issued(runId: string): Promise<Links> {
  const res = await links(runId);
  expect(res.status).toBe(201);
  return (await res.json()) as Links;
}

/** A link's page, opened as a browser would: no Authorization header. */
const open = (url: string) => exports.default.fetch(new Request(url));
const submit = (url: string, comment?: string) =>
  exports.default.fetch(
    new Request(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: comment === undefined ? "" : new URLSearchParams({ comment }).toString(),
    }),
  );

describe("decision links", () => {
  it("issues a pair valid until the step's timeout; the page shows the question and changes nothing; its POST approves once", async () => {
    const run = await createRun(approvalPlan("Ship <b>release</b> 1.2?"));
    const pair = await issued(run.run_id);
    expect(pair.expires_at).toBe(run.execution_log[0]!.waiting_until);
    expect(pair.approve_url).toMatch(new RegExp(`^http://crane\\.test/decide/${run.run_id}/dl_[0-9a-f]{48}$`));
    expect(pair.reject_url).not.toBe(pair.approve_url);
    const before = await events(run.run_id);

    // Opening the page (twice, as a mail scanner and then the person would) decides nothing.
    for (let i = 0; i < 2; i++) {
      const page = await open(pair.approve_url);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      const csp = page.headers.get("content-security-policy")!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("form-action 'self'");
      expect(csp).not.toContain("script-src");
      expect(page.headers.get("referrer-policy")).toBe("no-referrer");
      expect(page.headers.get("cache-control")).toBe("no-store");
      const html = await page.text();
      // The message is text, never markup.
      expect(html).toContain("Ship &#60;b&#62;release&#60;/b&#62; 1.2?");
      expect(html).toContain('<form method="post">');
      expect(html).toContain(">Approve</button>");
    }
    expect(await events(run.run_id)).toEqual(before);
    expect((await getRun(run.run_id)).status).toBe("waiting");

    const done = await submit(pair.approve_url, "looks good");
    expect(done.status).toBe(200);
    expect(await done.text()).toContain("Approved");
    const run2 = await getRun(run.run_id);
    expect(run2).toMatchObject({ status: "completed", result: 42 });
    expect(run2.execution_log[0]!.output).toMatchObject({ decision: "approve", comment: "looks good", decided_by: "link" });

    // Used: the same link, and the other link of the pair, are refused, on the page and its POST.
    for (const url of [pair.approve_url, pair.reject_url]) {
      const again = await open(url);
      expect(again.status).toBe(409);
      expect(await again.text()).toContain("Already decided");
      expect((await submit(url)).status).toBe(409);
    }
    expect((await events(run.run_id)).filter((e) => e.type === "step.decided")).toHaveLength(1);
  });

  it("the reject link rejects: the step fails and the run with it", async () => {
    const run = await createRun(approvalPlan());
    const pair = await issued(run.run_id);
    const page = await open(pair.reject_url);
    expect(await page.text()).toContain(">Reject</button>");
    const res = await submit(pair.reject_url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Rejected");
    expect(await getRun(run.run_id)).toMatchObject({
      status: "failed",
      error: { code: "approval_rejected", message: "Step 1 (Human.approve) failed: Rejected by link." },
    });
    expect((await submit(pair.approve_url)).status).toBe(409);
  });

  it("applies exactly one of the pair's links used at once", async () => {
    const run = await createRun(approvalPlan());
    const pair = await issued(run.run_id);
    const answers = await Promise.all([submit(pair.approve_url), submit(pair.reject_url), submit(pair.approve_url)]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    expect((await events(run.run_id)).filter((e) => e.type === "step.decided")).toHaveLength(1);
  });

  it("a step decided through the API, or by another pair, refuses every link with 409", async () => {
    const run = await createRun(approvalPlan());
    const [first, second] = [await issued(run.run_id), await issued(run.run_id)];
    expect((await submit(second.approve_url)).status).toBe(200);
    const other = await open(first.reject_url);
    expect(other.status).toBe(409);
    expect(await other.text()).toContain("not waiting for a decision any more");

    const run2 = await createRun(approvalPlan());
    const pair = await issued(run2.run_id);
    expect((await api(`/runs/${run2.run_id}/steps/1/decision`, { method: "POST", json: { decision: "reject" } })).status).toBe(200);
    expect((await open(pair.approve_url)).status).toBe(409);
    expect((await submit(pair.approve_url)).status).toBe(409);
    expect((await getRun(run2.run_id)).status).toBe("failed");
  });

  it("after the step's timeout a link is not found (404), even before the alarm has acted", async () => {
    const run = await createRun(approvalPlan());
    const pair = await issued(run.run_id);
    await advanceClock(run.run_id, HOUR_S * 1000 + 1_000);
    const page = await open(pair.approve_url);
    expect(page.status).toBe(404);
    expect(await page.text()).toContain("Link not valid");
    expect((await submit(pair.approve_url)).status).toBe(404);
    expect((await events(run.run_id)).some((e) => e.type === "step.decided")).toBe(false);
  });

  it("an unknown, malformed or other run's token is not found, and so is a made-up run id", async () => {
    const [a, b] = [await createRun(approvalPlan()), await createRun(approvalPlan())];
    const pair = await issued(a.run_id);
    const token = pair.approve_url.split("/").at(-1)!;
    const urls = [
      `http://crane.test/decide/${b.run_id}/${token}`,
      `http://crane.test/decide/${a.run_id}/dl_${"0".repeat(48)}`,
      `http://crane.test/decide/${a.run_id}/nonsense`,
      `http://crane.test/decide/not-a-run/${token}`,
    ];
    for (const url of urls) {
      expect((await open(url)).status, url).toBe(404);
      expect((await submit(url)).status, url).toBe(404);
    }
    expect((await getRun(a.run_id)).status).toBe("waiting");
    expect((await getRun(b.run_id)).status).toBe("waiting");
  });

  it("links are made only for a waiting approval, by the run's own tenant", async () => {
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Human.approve", input: { message: "first" } },
          { step_number: 2, tool: "Human.approve", input: { message: "second" }, depends_on: [1] },
          { step_number: 3, tool: "Calculator.evaluate", input: { expression: "1 + 1" } },
        ],
      },
    });
    for (const [step, code] of [
      [2, "step_not_waiting"],
      [3, "step_not_waiting"],
    ] as const) {
      const res = await links(run.run_id, step);
      expect(res.status).toBe(409);
      expect(await errorOf(res)).toMatchObject({ code });
    }
    for (const step of [9, 0]) {
      const res = await links(run.run_id, step);
      expect(res.status).toBe(404);
      expect(await errorOf(res)).toMatchObject({ code: "step_not_found" });
    }
    const other = await newApiKey(`links-${crypto.randomUUID().slice(0, 8)}`);
    const theirs = await links(run.run_id, 1, other.secret);
    expect(theirs.status).toBe(404);
    expect(await errorOf(theirs)).toMatchObject({ code: "run_not_found" });
    expect((await links(run.run_id, 1)).status).toBe(201);
  });
});

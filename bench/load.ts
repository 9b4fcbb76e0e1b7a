/**
 * The load generator, run as its own process so it never shares an event loop with the
 * server it measures. Two modes:
 *   closed: N keep-alive connections, each sends its next request when the last one
 *           answers (throughput);
 *   rate:   requests started at a fixed rate whatever the answers (latency: p50/p99 with
 *           microsecond precision, which HTTP benchmark tools round to milliseconds).
 * A "login" step list replays GET /auth/login then POST /auth/login with its cookie and
 * CSRF token, like a browser; a "signup" step list does the same with the sign-up form,
 * a new address each time.
 * Input: one JSON argument. Output: one JSON line.
 */
import http from 'node:http';

interface Step {
  method: 'GET' | 'POST';
  path: string;
  /** 'login' / 'signup': POST that form with the cookie and token from the previous GET. */
  kind?: 'login' | 'signup';
  headers?: Record<string, string>;
}

interface Spec {
  base: string;
  mode: 'closed' | 'rate';
  durationMs: number;
  connections?: number;
  rate?: number;
  steps: Step[];
  login?: { email: string; password: string };
  signup?: { password: string; referralCode?: string };
}
let signups = 0;

const spec = JSON.parse(process.argv[2]!) as Spec;
const url = new URL(spec.base);
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections ?? 64 });

type Sent = { status: number; body: string; setCookies: string[] };

/**
 * One request. A keep-alive socket the server closed as idle at the moment this client
 * reused it fails with ECONNRESET before the request reached the server: that request is
 * sent again once, on a fresh socket, as the Node.js documentation advises
 * (`request.reusedSocket`). Any other failure, or a second one, counts as status 0.
 */
function send(step: Step, state: { cookies: Map<string, string>; token?: string }, retried = false): Promise<Sent> {
  return new Promise<Sent>((resolve, reject) => {
    const headers: Record<string, string> = { ...step.headers };
    let body: string | undefined;
    if (step.kind) {
      headers.cookie = [...state.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      headers['content-type'] = 'application/x-www-form-urlencoded';
      const n = ++signups;
      const fields: Record<string, string> =
        step.kind === 'login'
          ? { email: spec.login!.email, password: spec.login!.password }
          : {
              name: `Load ${n}`,
              email: `load-${process.pid}-${n}@bench.test`,
              password: spec.signup!.password,
              referral_code: spec.signup!.referralCode ?? '',
            };
      body = new URLSearchParams({ ...fields, _csrf: state.token ?? '' }).toString();
    }
    const req = http.request({ host: url.hostname, port: url.port, path: step.path, method: step.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), setCookies: res.headers['set-cookie'] ?? [] });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') resolve(send(step, state, true));
      else reject(err);
    });
    req.end(body);
  });
}

/** One iteration of the step list; returns the status of its last step. */
async function iteration(): Promise<number> {
  // Every cookie the pages set (the CSRF cookie, the device cookie, the session), as a browser keeps them.
  const state: { cookies: Map<string, string>; token?: string } = { cookies: new Map() };
  let status = 0;
  for (const step of spec.steps) {
    const res = await send(step, state);
    status = res.status;
    for (const line of res.setCookies) {
      const pair = line.split(';')[0]!;
      const eq = pair.indexOf('=');
      state.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const token = /name="_csrf" value="([^"]+)"/.exec(res.body);
    if (token) state.token = token[1];
  }
  return status;
}

async function main() {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const record = (status: number, startedNs: bigint) => {
    latencies.push(Number(process.hrtime.bigint() - startedNs) / 1000);
    statuses[status] = (statuses[status] ?? 0) + 1;
  };
  const started = Date.now();
  const until = started + spec.durationMs;
  if (spec.mode === 'closed') {
    await Promise.all(
      Array.from({ length: spec.connections ?? 8 }, async () => {
        while (Date.now() < until) {
          const t = process.hrtime.bigint();
          record(await iteration().catch(() => 0), t);
        }
      }),
    );
  } else {
    const interval = 1000 / (spec.rate ?? 100);
    const inflight: Promise<void>[] = [];
    for (let i = 0; Date.now() < until; i++) {
      const due = started + i * interval;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = process.hrtime.bigint();
      inflight.push(
        iteration().then(
          (s) => record(s, t),
          () => record(0, t),
        ),
      );
    }
    await Promise.all(inflight);
  }
  const elapsed = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  process.stdout.write(
    `${JSON.stringify({ iterations: latencies.length, perSecond: latencies.length / elapsed, p50us: pct(50), p99us: pct(99), statuses })}\n`,
  );
  agent.destroy();
}

void main();

import http from 'node:http';
import https from 'node:https';
import { RefusedTargetError, type TargetGuard } from './url-guard.js';

/** How long one attempt may take: connecting, sending, and the answer's status (with a non-2xx's first bytes). */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Of a non-2xx answer's body, this much is kept for the delivery log. */
const BODY_SNIPPET_BYTES = 300;

export type AttemptResult = { ok: true; statusCode: number } | { ok: false; statusCode: number | null; error: string };

export interface WebhookRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
}

/**
 * POSTs one delivery and says how it went; it never throws. Any 2xx is success. A
 * redirect is not followed (it is a non-2xx answer): following it would reach a target
 * the guard never saw. No connection is reused, so every attempt resolves the name
 * again through the guard's lookup.
 */
export function createSender(options: { guard: TargetGuard; timeoutMs?: number; userAgent: string }) {
  const { guard, userAgent } = options;
  const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;

  function send(request: WebhookRequest): Promise<AttemptResult> {
    const url = new URL(request.url);
    let connect: ReturnType<TargetGuard['connectOptions']>;
    try {
      connect = guard.connectOptions(url);
    } catch (err) {
      return Promise.resolve({ ok: false, statusCode: null, error: (err as Error).message });
    }
    return new Promise((resolve) => {
      let settled = false;
      // Set once a non-2xx status line has arrived: a body that never ends still reports it.
      let answered: (() => void) | undefined;
      const finish = (result: AttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        resolve(result);
      };
      const client = url.protocol === 'https:' ? https : http;
      const req = client.request(
        url,
        {
          method: 'POST',
          agent: false,
          ...connect,
          headers: {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(request.body)),
            'user-agent': userAgent,
            ...request.headers,
          },
        },
        (res) => {
          const statusCode = res.statusCode ?? 0;
          if (statusCode >= 200 && statusCode < 300) return finish({ ok: true, statusCode });
          const chunks: Buffer[] = [];
          let size = 0;
          const failed = () => {
            const snippet = Buffer.concat(chunks).subarray(0, BODY_SNIPPET_BYTES).toString('utf8').trim();
            finish({ ok: false, statusCode, error: `HTTP ${statusCode}${snippet ? `: ${snippet}` : ''}` });
          };
          answered = failed;
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            size += chunk.length;
            if (size >= BODY_SNIPPET_BYTES) failed();
          });
          res.on('end', failed);
          res.on('error', failed);
        },
      );
      // A real timer whatever the app's clock: it bounds a wait on the network.
      const timer = setTimeout(
        () => (answered ? answered() : finish({ ok: false, statusCode: null, error: `No answer within ${timeoutMs / 1000} s` })),
        timeoutMs,
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        const error = err instanceof RefusedTargetError ? err.message : `${err.code ? `${err.code}: ` : ''}${err.message}`;
        finish({ ok: false, statusCode: null, error });
      });
      req.end(request.body);
    });
  }

  return { send, timeoutMs };
}

export type Sender = ReturnType<typeof createSender>;

import http from 'node:http';
import type net from 'node:net';

export interface ReceivedWebhook {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** How a path answers: a status code, or 'hang' (read the request, never answer). */
export type ReceiverMode = number | 'hang';

/**
 * A real HTTP server on 127.0.0.1 standing in for a product's webhook endpoint. Every
 * request is recorded once its body has arrived, whatever the answer; each path answers
 * as `answer(path, mode)` says (200 unless told otherwise).
 */
export class WebhookReceiver {
  readonly requests: ReceivedWebhook[] = [];
  private readonly modes = new Map<string, ReceiverMode>();
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
      this.requests.push({ path, headers, body: Buffer.concat(chunks).toString('utf8') });
      const mode = this.modes.get(path) ?? 200;
      if (mode === 'hang') return;
      res.writeHead(mode, { 'content-type': 'text/plain' });
      res.end(mode >= 200 && mode < 300 ? 'ok' : `receiver says ${mode}`);
    });
  });
  private port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** The URL of a path on this receiver; `host` lets a test name it differently (localhost). */
  url(path: string, host = '127.0.0.1'): string {
    return `http://${host}:${this.port}${path}`;
  }

  answer(path: string, mode: ReceiverMode): void {
    this.modes.set(path, mode);
  }

  /** The requests that arrived at one path, in order. */
  at(path: string): ReceivedWebhook[] {
    return this.requests.filter((r) => r.path === path);
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

import type { IncomingMessage } from 'node:http';
import { pino, type DestinationStream, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config.js';

/**
 * Log lines held in memory while whatever reads stdout is slow or stuck. A line that would
 * take the buffer past this is dropped (and counted) rather than stalling the server.
 */
export const LOG_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * Largest single write: PIPE_BUF. A write this size to a pipe is atomic, so the lines of
 * cluster workers sharing one stdout pipe never interleave mid-line.
 */
const MAX_WRITE_BYTES = 4096;
/** How long pino's own `logger.flush(cb)` waits before giving up. */
const DEFAULT_FLUSH_MS = 1000;

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * Stdout for pino that never blocks: pino's asynchronous destination (sonic-boom,
 * `sync: false`) with a bounded buffer. A full pipe makes a write fail with EAGAIN and
 * sonic-boom retries it from a timer, so the event loop keeps serving; lines beyond the
 * buffer are dropped and counted, and reported in one line once stdout drains. When the
 * reader is gone (EPIPE) every later line is dropped and counted. At exit nothing is
 * retried: lines still queued then are abandoned (flushLogs first to give them a chance).
 */
class StdoutSink implements DestinationStream {
  /** Logs the "lines were dropped" report once stdout drains. */
  reporter: Logger | undefined;
  private readonly sonic: SonicBoom;
  private idle = true;
  /** The reader went away (EPIPE) or stdout is closed: nothing more can be written. */
  private broken = false;
  /** The process is exiting: the stream is closed. */
  private closed = false;
  private droppedTotal = 0;
  private droppedUnreported = 0;
  private readonly waiters = new Set<() => void>();

  constructor() {
    // Reading process.stdout.fd opens stdout in Node; for a pipe or a socket libuv puts the
    // descriptor in non-blocking mode, so a write to a full pipe fails (EAGAIN) instead of
    // sleeping in the kernel. Undefined in a worker thread, where stdout is still fd 1.
    const fd = (process.stdout.fd as number | undefined) ?? 1;
    // minLength 0: a line is written as soon as no write is in progress; lines logged
    // meanwhile are batched into the next write (up to MAX_WRITE_BYTES each), so nothing
    // waits in memory on a quiet server and nothing needs a flush timer.
    this.sonic = pino.destination({ dest: fd, sync: false, minLength: 0, maxWrite: MAX_WRITE_BYTES, maxLength: LOG_BUFFER_BYTES });
    this.sonic.on('drop', () => this.countDrop());
    this.sonic.on('drain', () => this.onDrain());
    this.sonic.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
  }

  /** Lines refused so far: buffer full, reader gone, or logged after exit began. */
  get dropped(): number {
    return this.droppedTotal;
  }

  write(line: string): void {
    if (this.broken || this.closed) {
      this.countDrop();
      return;
    }
    const before = this.droppedTotal;
    try {
      this.sonic.write(line); // emits 'drop' synchronously when the buffer is full
    } catch {
      // Destroyed under us (pino ends it on 'beforeExit'): a log call must not throw.
      this.broken = true;
      this.countDrop();
      return;
    }
    if (this.droppedTotal === before) this.idle = false;
  }

  /** pino's `logger.flush(cb)`. */
  flush(cb?: (err?: Error) => void): void {
    void this.drained(DEFAULT_FLUSH_MS).then(() => cb?.());
  }

  /** Resolves once everything buffered is written, or nothing more can be, or after timeoutMs. */
  drained(timeoutMs: number): Promise<void> {
    if (this.idle || this.broken || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.waiters.add(done);
    });
  }

  /**
   * At exit: pino would otherwise write what is left with sonic-boom's flushSync, which
   * sleeps and retries for as long as the pipe stays full (or, on EPIPE, forever). A write
   * already handed to the OS still completes; lines queued behind it are abandoned.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    // Marks the stream destroyed, so pino's exit hook skips it. (After EPIPE pino has made
    // destroy and flushSync no-ops already.)
    this.sonic.destroy();
  }

  private countDrop(): void {
    this.droppedTotal++;
    this.droppedUnreported++;
  }

  private onDrain(): void {
    this.idle = true;
    const count = this.droppedUnreported;
    if (count > 0 && !this.closed && this.reporter?.isLevelEnabled('warn')) {
      this.droppedUnreported = 0;
      const total = this.droppedTotal;
      this.reporter.warn({ droppedLogLines: count, droppedLogLinesTotal: total }, `stdout could not keep up: ${count} log lines were dropped`);
      // Unless refused, that line made the sink busy again: the next drain ends flushLogs waits.
      if (this.droppedTotal === total) return;
    }
    this.release();
  }

  private onError(err: NodeJS.ErrnoException): void {
    // EPIPE: the reader is gone (pino has also turned the stream's methods into no-ops).
    // EBADF: stdout was closed. Anything else (say ENOSPC on a file) may pass: the data stays
    // buffered and the next line retries the write.
    if (err.code === 'EPIPE' || err.code === 'EBADF') this.broken = true;
    this.release();
  }

  private release(): void {
    for (const done of [...this.waiters]) done();
  }
}

let stdoutSink: StdoutSink | undefined;

/** One sink per process: stdout is one descriptor, so its buffer bound is per process. */
function sharedStdoutSink(): StdoutSink {
  if (!stdoutSink) {
    const sink = new StdoutSink();
    // Before pino's own exit hook (registered when the destination was created above).
    process.prependListener('exit', () => sink.close());
    stdoutSink = sink;
  }
  return stdoutSink;
}

export function createLogger(config: Pick<Config, 'logLevel' | 'env'>): Logger {
  const sink = sharedStdoutSink();
  const logger = pino(
    {
      level: config.logLevel,
      // Defence in depth: nothing secret should reach a log line even if logged by mistake.
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'],
        censor: '[redacted]',
      },
    },
    sink,
  );
  sink.reporter ??= logger;
  return logger;
}

/**
 * Waits until the log lines logged so far are written to stdout, but never longer than
 * timeoutMs (stdout's reader may be slow or gone). For a graceful stop, before process.exit.
 */
export function flushLogs(timeoutMs: number): Promise<void> {
  return stdoutSink ? stdoutSink.drained(timeoutMs) : Promise.resolve();
}

/** Log lines dropped so far in this process because stdout could not take them. */
export function droppedLogLines(): number {
  return stdoutSink?.dropped ?? 0;
}

/** Reset tokens travel in the path; they never reach the log. */
export function redactUrl(url: string): string {
  return url.replace(/^(\/auth\/reset\/)[^/?#]+/, '$1[token]').replace(/([?&](?:token|password)=)[^&#]*/gi, '$1[redacted]');
}

/** One structured line per request: method, path (tokens removed), status, time. No bodies, no cookies. */
export function requestLogger(logger: Logger) {
  return pinoHttp({
    logger,
    quietReqLogger: true,
    serializers: {
      req: (req: IncomingMessage & { id?: unknown; originalUrl?: string }) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.originalUrl ?? req.url ?? ''),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
  });
}

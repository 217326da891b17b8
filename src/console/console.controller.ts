import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Controller, Get, Header, Inject, NotFoundException, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { LOGGER, type Logger } from '../observability/logger';

/** The page's own files, by the name the browser asks for; nothing else is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * No inline script or style, nothing from other origins, no framing: the page talks only to this
 * service's admin API, and a token pasted into it cannot be sent anywhere else.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The support console: a static page and its script, built into dist/src/console/web. It holds no
 * data and needs no credential to load; every call it makes goes through the admin API with the
 * bearer token the agent signs in with, so the API's guard decides what it may see and do.
 */
@Controller('console')
export class ConsoleController {
  private readonly cache = new Map<string, Buffer>();
  private readonly dir = join(__dirname, 'web');

  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  @Get()
  @Header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  @Header('X-Frame-Options', 'DENY')
  @Header('Cache-Control', 'no-store')
  async page(@Res() response: Response): Promise<void> {
    response.type('text/html; charset=utf-8').send(await this.file('index.html'));
  }

  @Get(':asset')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-cache')
  async asset(@Param('asset') name: string, @Res() response: Response): Promise<void> {
    const type = ASSETS[name];
    if (type === undefined) throw new NotFoundException(`no console file ${name}`);
    response.type(type).send(await this.file(name));
  }

  private async file(name: string): Promise<Buffer> {
    const cached = this.cache.get(name);
    if (cached) return cached;
    try {
      const content = await readFile(join(this.dir, name));
      this.cache.set(name, content);
      return content;
    } catch (error) {
      // A build without the console's files (e.g. run from the sources): said once per request.
      this.logger.error(
        { file: name, error: error instanceof Error ? error.message : String(error) },
        'support console file missing from the build',
      );
      throw error;
    }
  }
}

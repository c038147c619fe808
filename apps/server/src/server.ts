import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { WsAdapter } from '@nestjs/platform-ws';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AddressInfo } from 'node:net';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/env.js';
import { FxExceptionFilter } from './common/fx-exception.filter.js';
import { PinoLoggerService } from './common/pino-logger.service.js';
import { documentOperations } from './common/openapi.js';
import { AdminBootstrap } from './modules/users/admin-bootstrap.service.js';
import { AuthService } from './modules/auth/auth.service.js';
import { bodyGate } from './modules/auth/body-gate.js';
import { mountConsole } from './modules/console/console-static.js';
import { makePrivate } from './storage/private-dir.js';
import { DataDirLock } from './storage/data-dir.lock.js';

export interface RunningServer {
  app: NestExpressApplication;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** The admin token, when this start created the admin user. */
  adminToken: string | null;
  close(): Promise<void>;
}

/** Builds and starts the server; used by main.ts and by tests that need an in-process server. */
export async function startServer(config: AppConfig): Promise<RunningServer> {
  // The embedded database is this process's alone: lock its directory before anything in it is opened.
  const lock = config.DATABASE_URL ? undefined : await DataDirLock.acquire(config.FX_DATA_DIR);
  try {
    return await boot(config, lock);
  } catch (e) {
    await lock?.release();
    throw e;
  }
}

async function boot(config: AppConfig, lock: DataDirLock | undefined): Promise<RunningServer> {
  await makePrivate(config.FX_DATA_DIR);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    // One pino logger for the process; every `new Logger(context)` writes through it.
    logger: PinoLoggerService.create({ level: config.FX_LOG_LEVEL, format: config.FX_LOG_FORMAT }),
  });
  // Authenticates before it reads a byte of body, and bounds the body's shape before JSON.parse.
  app.use(bodyGate(app.get(AuthService), { maxBytes: config.FX_MAX_REQUEST_BYTES }));
  // Frames are parsed by the gateways themselves with the protocol catalogs; the adapter's own
  // event routing is switched off.
  app.useWebSocketAdapter(new WsAdapter(app, { messageParser: () => undefined }));
  app.useGlobalFilters(new FxExceptionFilter());
  app.enableShutdownHooks();
  mountConsole(app, config.FX_CONSOLE_DIR);

  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('FX')
      .setDescription(
        'FX REST API v1. Websocket channels: /v1/ws/endpoint (endpoint tokens), /v1/ws/client (user tokens) and /v1/ws/console (user token in the first frame); frames are defined in @fx/protocol. The admin console is served at /console.',
      )
      .setVersion('1')
      .setOpenAPIVersion('3.1.0')
      .addBearerAuth()
      .build(),
  );
  documentOperations(doc as never);
  SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'openapi.json' });

  // The admin token exists before the port opens, so anything that waits for readiness can read it.
  let adminToken: string | null;
  try {
    await app.init();
    adminToken = await app.get(AdminBootstrap).run(config);
    await app.listen(config.PORT, config.HOST);
  } catch (e) {
    // A busy port, say: close what init opened (the embedded PostgreSQL among it) before giving up.
    await app.close().catch(() => undefined);
    throw e;
  }
  const address = app.getHttpServer().address() as AddressInfo;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  const url = config.FX_PUBLIC_URL ?? `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  await lock?.noteUrl(url);
  return {
    app,
    url,
    adminToken,
    close: async () => {
      await app.close();
      await lock?.release();
    },
  };
}

import { Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/env.js';
import type { Broker } from './broker.js';
import type { Database } from './database.js';
import { createDatabase } from './database.factory.js';
import { createBroker } from './broker.factory.js';

export const DATABASE = Symbol('DATABASE');
export const BROKER = Symbol('BROKER');

@Global()
@Module({
  providers: [
    {
      provide: DATABASE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<Database> => {
        const logger = new Logger('Database');
        const db = await createDatabase({
          databaseUrl: config.DATABASE_URL,
          dataDir: config.FX_DATA_DIR,
          migrationsDir: config.FX_MIGRATIONS_DIR,
          embeddedStore: config.FX_EMBEDDED_STORE,
          poolSize: config.DATABASE_POOL_SIZE,
          log: (m) => logger.log(m),
          warn: (m) => logger.warn(m),
        });
        const applied = await db.migrate();
        if (applied.length) logger.log(`applied migrations: ${applied.join(', ')}`);
        logger.log(
          db.kind === 'postgres'
            ? 'using PostgreSQL (DATABASE_URL)'
            : db.kind === 'pglite'
              ? `using embedded PGlite in ${config.FX_DATA_DIR}`
              : `using the embedded PostgreSQL in ${config.FX_DATA_DIR}`,
        );
        return db;
      },
    },
    {
      provide: BROKER,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<Broker> => {
        const broker = await createBroker({ redisUrl: config.REDIS_URL, prefix: config.FX_REDIS_PREFIX });
        new Logger('Broker').log(broker.kind === 'redis' ? `using Redis (prefix ${config.FX_REDIS_PREFIX})` : 'using the in-process broker');
        return broker;
      },
    },
  ],
  exports: [DATABASE, BROKER],
})
export class StorageModule implements OnApplicationShutdown {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    @Inject(BROKER) private readonly broker: Broker,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.broker.close().catch(() => undefined);
    await this.db.close().catch(() => undefined);
  }
}

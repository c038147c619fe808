import type { Provider } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/env.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { FsObjectStore } from '../../storage/object-store.fs.js';
import { makePrivateTree } from '../../storage/private-dir.js';
import { UploadFiles } from './upload-files.js';

export const OBJECT_STORE = Symbol('OBJECT_STORE');
export const UPLOAD_FILES = Symbol('UPLOAD_FILES');

/** The object store (the filesystem one, at FX_OBJECTS_DIR) and the upload staging files beside it. */
export const objectStoreProviders: Provider[] = [
  {
    provide: OBJECT_STORE,
    inject: [APP_CONFIG],
    useFactory: async (config: AppConfig): Promise<ObjectStore> => {
      await makePrivateTree(config.FX_OBJECTS_DIR);
      return new FsObjectStore(config.FX_OBJECTS_DIR);
    },
  },
  {
    provide: UPLOAD_FILES,
    inject: [APP_CONFIG],
    useFactory: (config: AppConfig) => new UploadFiles(config.FX_OBJECTS_DIR),
  },
];

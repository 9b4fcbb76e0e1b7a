import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The project root, whether running from src/ (tsx, vitest) or dist/ (compiled). */
export const projectRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
export const viewsDir = path.join(projectRoot, 'views');
export const publicDir = path.join(projectRoot, 'public');
export const migrationsDir = path.join(projectRoot, 'migrations');

/**
 * zod's mini API, with its English messages: `import * as z from './zod'`. Functions validate with
 * zod/mini, never zod's classic API: classic does not tree-shake (about 440 KiB in every bundle,
 * some 20 ms of init), mini keeps what is used, as long as it is imported name by name (a
 * namespace re-exported as one value would keep all of it, every locale included). Mini loads no
 * locale by default (every message would be "Invalid input"), so the English one is configured
 * here, once, for config and requests alike.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';

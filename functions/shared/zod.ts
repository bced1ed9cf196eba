/**
 * zod's mini API, with its English messages. Functions validate with zod/mini, never zod's classic
 * API: classic does not tree-shake (about 440 KiB in every bundle, some 20 ms of init), mini keeps
 * what is used. Mini loads no locale by default (every message would be "Invalid input"), so the
 * English one is configured here, once, for config and requests alike.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

export { z };

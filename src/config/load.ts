/**
 * config/load.ts: config text or file → the validated model (for SAVE CONFIG and the CLI) and
 * the resolved options (for the services), in one call.
 *
 * Exports: `LoadedConfig`, `loadConfig(text, sourceName?)`, `loadConfigFile(path)`,
 * `loadDefault()`.
 * Throws: PosternError CONFIG_SYNTAX (parse), the validation codes of config/model.ts, and
 * CONFIG_READ when the file cannot be read (`details: { path, cause }`).
 */
import { readFile } from 'node:fs/promises';
import { PosternError } from '../errors.ts';
import { DEFAULT_CONFIG_TEXT } from './default.ts';
import { resolve, validate } from './model.ts';
import type { ConfigModel } from './model.ts';
import type { ResolvedConfig } from './options.ts';
import { parse } from './parse.ts';

export interface LoadedConfig {
  model: ConfigModel;
  resolved: ResolvedConfig;
}

export function loadConfig(text: string, sourceName?: string): LoadedConfig {
  const model = validate(parse(text, sourceName), sourceName);
  return { model, resolved: resolve(model) };
}

export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new PosternError('CONFIG_READ', `cannot read config file ${path}: ${reason}`, { path, cause: reason }, { cause: e });
  }
  return loadConfig(text, path);
}

export function loadDefault(): LoadedConfig {
  return loadConfig(DEFAULT_CONFIG_TEXT, '(embedded default)');
}

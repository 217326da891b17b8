import { localeFallbacks } from './locale-fallback';

describe('localeFallbacks', () => {
  it.each([
    ['zh-TW', 'en', ['zh-TW', 'zh', 'en']],
    ['zh-Hant-TW', 'en', ['zh-Hant-TW', 'zh-Hant', 'zh', 'en']],
    ['pt_br', 'en-US', ['pt-BR', 'pt', 'en-US', 'en']],
    ['en-GB', 'en', ['en-GB', 'en']],
    [undefined, 'de', ['de']],
  ])('%s with default %s → %j', (requested, fallback, expected) => {
    expect(localeFallbacks(requested, fallback)).toEqual(expected);
  });
});

/**
 * The locales to try for a template, most specific first: zh-Hant-TW → zh-Hant → zh, then the
 * gateway's default locale and its parents. Duplicates are dropped; case follows BCP 47 habits.
 */
export function localeFallbacks(requested: string | undefined, defaultLocale: string): string[] {
  const chain: string[] = [];
  const add = (locale: string | undefined): void => {
    if (!locale) return;
    const parts = locale.replace(/_/g, '-').split('-').filter(Boolean);
    for (let length = parts.length; length > 0; length -= 1) {
      const candidate = canonical(parts.slice(0, length));
      if (!chain.includes(candidate)) chain.push(candidate);
    }
  };
  add(requested);
  add(defaultLocale);
  return chain;
}

function canonical(parts: string[]): string {
  return parts
    .map((part, index) => {
      if (index === 0) return part.toLowerCase();
      if (part.length === 2) return part.toUpperCase(); // region
      if (part.length === 4) return part[0]!.toUpperCase() + part.slice(1).toLowerCase(); // script
      return part.toLowerCase();
    })
    .join('-');
}

/** The package's version (package.json's), exported by the package entry. */
export const VERSION = '0.1.0';

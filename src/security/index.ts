/** The pure core of security: principals and how certificates map to them. */
export * from './principals';

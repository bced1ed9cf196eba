import * as z from './z';
console.log(z.strictObject({ a: z.int() }).safeParse({ a: 'x' }).success);

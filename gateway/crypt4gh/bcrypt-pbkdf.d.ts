// Types for the one function of `bcrypt-pbkdf` (CommonJS, untyped) that reads bcrypt-protected Crypt4GH keys.
declare module 'bcrypt-pbkdf' {
  const bcryptPbkdf: {
    /** OpenBSD bcrypt_pbkdf into `key`; 0 on success, -1 on bad arguments. */
    pbkdf(pass: Uint8Array, passlen: number, salt: Uint8Array, saltlen: number, key: Uint8Array, keylen: number, rounds: number): number;
  };
  export default bcryptPbkdf;
}

export interface SignInText {
  signIn: string;
  email: string;
  password: string;
  totpCode: string;
  recoveryCode: string;
  verify: string;
  useKey: string;
  useAccount: string;
  apiKey: string;
}

export interface TotpText {
  totpSetup: string;
  totpSetupHelp: string;
  secret: string;
  totpCode: string;
  confirm: string;
  recoveryCodes: string;
  continue: string;
}

/** The sign-in and TOTP texts, the same in every app that signs staff in. */
export const staffSignInText = {
  id: {
    signIn: "Masuk",
    email: "Email",
    password: "Kata sandi",
    totpCode: "Kode autentikator (6 digit)",
    recoveryCode: "Atau kode pemulihan",
    verify: "Verifikasi",
    useKey: "Masuk dengan kunci API",
    useAccount: "Masuk dengan akun staf",
    apiKey: "Kunci API (sk_…)",
    totpSetup: "Aktifkan verifikasi dua langkah",
    totpSetupHelp: "Pindai kode QR dengan aplikasi autentikator, lalu masukkan kode 6 digit.",
    secret: "Kunci rahasia",
    confirm: "Konfirmasi",
    recoveryCodes: "Kode pemulihan (simpan sekarang, hanya ditampilkan sekali)",
    continue: "Lanjut",
  },
  en: {
    signIn: "Sign in",
    email: "Email",
    password: "Password",
    totpCode: "Authenticator code (6 digits)",
    recoveryCode: "Or a recovery code",
    verify: "Verify",
    useKey: "Sign in with an API key",
    useAccount: "Sign in with a staff account",
    apiKey: "API key (sk_…)",
    totpSetup: "Turn on two-step verification",
    totpSetupHelp: "Scan the QR code with an authenticator app, then enter the 6-digit code.",
    secret: "Secret key",
    confirm: "Confirm",
    recoveryCodes: "Recovery codes (save them now, shown only once)",
    continue: "Continue",
  },
} satisfies Record<"id" | "en", SignInText & TotpText>;

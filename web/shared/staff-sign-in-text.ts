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

/** "Forgot password?" on the sign-in form and the page the emailed link opens. */
export interface ResetText {
  forgotPassword: string;
  forgotHelp: string;
  sendResetLink: string;
  resetLinkSent: string;
  backToSignIn: string;
  resetPassword: string;
  newPassword: string;
  passwordChanged: string;
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
    forgotPassword: "Lupa kata sandi?",
    forgotHelp:
      "Masukkan email akun staf Anda. Kami mengirim tautan untuk membuat kata sandi baru.",
    sendResetLink: "Kirim tautan",
    resetLinkSent:
      "Jika email itu terdaftar, tautan sudah dikirim. Tautan berlaku 30 menit dan hanya sekali.",
    backToSignIn: "Kembali ke halaman masuk",
    resetPassword: "Buat kata sandi baru",
    newPassword: "Kata sandi baru",
    passwordChanged:
      "Kata sandi diganti dan semua sesi diakhiri. Masuk dengan kata sandi baru; kode autentikator tetap diminta.",
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
    forgotPassword: "Forgot password?",
    forgotHelp: "Enter your staff account's email. We send a link to choose a new password.",
    sendResetLink: "Send link",
    resetLinkSent:
      "If that email has an account, a link is on its way. It works once, for 30 minutes.",
    backToSignIn: "Back to sign-in",
    resetPassword: "Choose a new password",
    newPassword: "New password",
    passwordChanged:
      "Password changed and every session signed out. Sign in with the new password; your authenticator code is still asked.",
  },
} satisfies Record<"id" | "en", SignInText & TotpText & ResetText>;

/**
 * `setia seed --demo`: a demo program with stores, members and about thirteen months of
 * purchases, refunds and redemptions, written through the same module functions the API uses so
 * the ledger is exactly what real traffic would have produced.
 *
 * Everything is planned in memory first from a seeded PRNG, in times relative to the last
 * midnight in Jakarta, so the same seed gives the same members, receipts and totals whatever day
 * it runs (only the dates move). The plan is then replayed in chronological order under a
 * simulated clock: enrolments, refunds and redemptions at their own time, receipts in one batch
 * per till sync at the end of each hour, and the scheduled jobs once per simulated night.
 */
import { sql } from "kysely";
import type { Ctx } from "../context.ts";
import type { Tx } from "../db/client.ts";
import { runJobsOnce } from "../jobs/index.ts";
import { invariant } from "../lib/assert.ts";
import { ManualClock } from "../lib/clock.ts";
import { DomainError } from "../lib/errors.ts";
import { fromMinor } from "../lib/money.ts";
import { createApiKey } from "../modules/auth/index.ts";
import { programAccounts, readBalance, redeem } from "../modules/ledger/index.ts";
import {
  enrolMember,
  findMemberRow,
  type MemberEnrol,
  memberEnrolSchema,
  normalizePhone,
} from "../modules/members/index.ts";
import { createProgram, programCreateSchema } from "../modules/programs/index.ts";
import {
  batchSizeMax,
  type PurchaseInput,
  purchaseSchema,
  recordPurchaseBatch,
  recordRefund,
  refundSchema,
} from "../modules/purchases/index.ts";
import { createStore, storeCreateSchema } from "../modules/stores/index.ts";

export const demoProgramName = "Setia Demo Mart";

/** Thirteen months, so the first month's unspent points have expired as in a real program. */
const historyDays = 396;
const dayMs = 86_400_000;
const minuteMs = 60_000;
/** Asia/Jakarta has no daylight saving time: UTC+7 all year. */
const jakartaOffsetMs = 7 * 3_600_000;
/** The simulated scheduler runs at 02:00 every night, before the stores open. */
const jobsMinuteOfDay = 2 * 60;
/**
 * Tills send their receipts in one batch every this often, from midnight. One batch per day is
 * about twice as fast to seed as one per hour; a receipt is then recorded at midnight.
 */
const tillSyncIntervalMs = dayMs;

const anonymousPerMemberPurchase = 0.3;
const refundProbability = 0.03;

export interface DemoOptions {
  members: number;
  seed: number;
  /** Called after each simulated day, for a progress line. */
  onProgress?: (progress: { day: number; days: number; purchases: number }) => void;
}

export interface DemoSummary {
  programId: string;
  programName: string;
  /** false when the demo program already existed: nothing was written. */
  created: boolean;
  seed: number | null;
  /** Secrets are stored hashed, so they can be shown only by the run that created them. */
  keys: { admin: string; pos: string } | null;
  period: { from: string | null; to: string | null };
  stores: { id: string; name: string; city: string; channel: Channel }[];
  counts: {
    members: number;
    stores: number;
    products: number;
    purchases: number;
    anonymousPurchases: number;
    refunds: number;
    redemptions: number;
  };
  points: Awaited<ReturnType<typeof programAccounts>>;
  examplePhone: string | null;
  durationMs: number;
  note: string;
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** FNV-1a over text: turns a seed and a stream name into 32 bits. */
function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * sfc32, seeded through splitmix32. Each part of the plan draws from its own named stream, so
 * adding members or tuning anonymous baskets does not change what member 7 buys.
 */
class SeededRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, ...stream: (string | number)[]) {
    let state = hash32(`${seed}/${stream.join("/")}`);
    const splitmix = () => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = splitmix();
    this.#b = splitmix();
    this.#c = splitmix();
    this.#d = splitmix();
    for (let round = 0; round < 12; round++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4_294_967_296;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  /** Picks by [item, weight] pairs. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, weight] of choices) total += weight;
    let left = this.next() * total;
    for (const [item, weight] of choices) {
      left -= weight;
      if (left < 0) return item;
    }
    const last = choices.at(-1);
    if (!last) throw new Error("weighted pick from an empty list");
    return last[0];
  }

  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }
}

// ---------------------------------------------------------------------------------------------
// Reference data

type Channel = "pos" | "online" | "app";
type Region = "jakarta" | "sunda" | "jawa" | "batak" | "bali" | "bugis";

interface Store {
  id: string;
  name: string;
  city: string;
  channel: Channel;
  /** Relative share of members who shop there. */
  weight: number;
  region: Region;
  /** Where its members live, the first most often. */
  memberCities: readonly string[];
}

const stores: readonly Store[] = [
  store("JKT-01", "Kemang", "Jakarta Selatan", 14, "jakarta", ["Depok", "Tangerang Selatan"]),
  store("JKT-02", "Kelapa Gading", "Jakarta Utara", 12, "jakarta", ["Jakarta Pusat", "Bekasi"]),
  store("JKT-03", "Rawamangun", "Jakarta Timur", 10, "jakarta", ["Bekasi", "Jakarta Pusat"]),
  store("BDG-01", "Dago", "Bandung", 10, "sunda", ["Cimahi", "Kabupaten Bandung"]),
  store("SBY-01", "Darmo", "Surabaya", 10, "jawa", ["Sidoarjo", "Gresik"]),
  store("MDN-01", "Setiabudi", "Medan", 8, "batak", ["Deli Serdang", "Binjai"]),
  store("YOG-01", "Kaliurang", "Yogyakarta", 7, "jawa", ["Sleman", "Bantul"]),
  store("SMG-01", "Pandanaran", "Semarang", 7, "jawa", ["Ungaran", "Demak"]),
  store("DPS-01", "Renon", "Denpasar", 6, "bali", ["Badung", "Gianyar"]),
  store("MKS-01", "Panakkukang", "Makassar", 6, "bugis", ["Gowa", "Maros"]),
  {
    id: "ONL-01",
    name: "Setia Demo Mart Online",
    city: "Jakarta",
    channel: "online",
    weight: 0,
    region: "jakarta",
    memberCities: [],
  },
  {
    id: "APP-01",
    name: "Setia Demo Mart App",
    city: "Jakarta",
    channel: "app",
    weight: 0,
    region: "jakarta",
    memberCities: [],
  },
];
const physicalStores = stores.filter((candidate) => candidate.channel === "pos");
const physicalStoreChoices = physicalStores.map(
  (candidate) => [candidate, candidate.weight] as const,
);
const storeOf = (channel: "online" | "app") =>
  stores.find((candidate) => candidate.channel === channel) as Store;

function store(
  id: string,
  area: string,
  city: string,
  weight: number,
  region: Region,
  nearby: string[],
): Store {
  return {
    id,
    name: `Setia Demo Mart ${area}`,
    city,
    channel: "pos",
    weight,
    region,
    memberCities: [city, ...nearby],
  };
}

interface NamePool {
  female: readonly string[];
  male: readonly string[];
  /** Family or second names; an entry of [female, male] differs by gender. */
  last: readonly (string | readonly [string, string])[];
}

const words = (text: string) => text.split(" ");
const nationalNames: NamePool = {
  female: words(
    "Siti Dewi Sri Ayu Putri Rina Wulan Indah Nurul Fitri Ratna Kartika Maya Nadia Anisa Dian Yuni Sari Mega Intan Ratih Novita Eka Rini Amelia Aulia Salsabila Nabila Citra Melati Diah Endang Yanti Tuti Lina Vina Della Tiara",
  ),
  male: words(
    "Budi Agus Andi Joko Bambang Hendra Rizky Dimas Fajar Arif Eko Yusuf Teguh Wahyu Dedi Rudi Ahmad Muhammad Irfan Reza Ilham Bayu Yoga Adi Hadi Iwan Doni Rahmat Aditya Fauzan Galih Gilang Kevin Dwi Yudi Hendro Rangga",
  ),
  last: [
    ...words(
      "Santoso Wijaya Hidayat Kusuma Gunawan Halim Susanto Hartono Rahman Hakim Suryadi Handoko Salim Tanoto Sulistyo Maulana Nugraha Siswanto Purnomo Sutanto",
    ),
    ["Lestari", "Saputra"],
    ["Rahayu", "Pratama"],
    ["Anggraini", "Nugroho"],
    ["Safitri", "Setiawan"],
    ["Wulandari", "Wibowo"],
    ["Puspitasari", "Prasetyo"],
    ["Maharani", "Kurniawan"],
    ["Handayani", "Firmansyah"],
    ["Permatasari", "Ramadhan"],
    ["Kusumawati", "Utomo"],
  ],
};
const regionalNames: Record<Region, NamePool | null> = {
  jakarta: null,
  jawa: {
    female: words("Sumarni Sukarti Suparmi Sulastri Ratna Tri Sekar Ningsih Wahyuni Larasati"),
    male: words("Sutrisno Suparman Sugiyono Slamet Riyanto Bagus Tri Heru Bima Wisnu"),
    last: words("Sutrisno Wibisono Purwanto Susilo Sugiarto Wicaksono Hadiwijaya Cahyono"),
  },
  sunda: {
    female: words("Euis Neng Lilis Iis Nining Rini Tati Yeni Cucu Ai"),
    male: words("Asep Ujang Dadang Cecep Deden Ade Yayan Dede Ujang Acep"),
    last: words("Sudrajat Hermawan Sumarna Suhendar Kurnia Supriatna Rukmana Somantri"),
  },
  batak: {
    female: words("Rotua Maria Debora Yohana Lisbeth Rosdiana Tiurma Nurhayati Melva Friska"),
    male: words("Tigor Parlindungan Roy Jonathan Daniel Samuel Ridwan Hotman Benny Martin"),
    last: words(
      "Siregar Nasution Lubis Simanjuntak Sitompul Hutapea Harahap Sinaga Pardede Situmorang Manurung Tambunan Panjaitan Sihombing",
    ),
  },
  bugis: {
    female: words("Andi Nurhayati Hasnah Rosmini Sitti Fatimah Haslinda Rahmawati Nurlela"),
    male: words("Andi Syamsul Rahmat Darwis Ridwan Irwan Zainal Ansar Akbar Asri"),
    last: words("Syamsuddin Hasanuddin Amiruddin Nurdin Jamaluddin Baharuddin Arifin Mappa"),
  },
  // Balinese names carry a birth-order name and a title; built separately.
  bali: null,
};
const balineseBirthOrder = {
  female: words("Putu Wayan Luh Made Kadek Nyoman Komang Ketut"),
  male: words("Putu Wayan Gede Made Kadek Nyoman Komang Ketut"),
};
const balineseGiven = {
  female: words("Ayu Lestari Sri Utami Yuliani Suartini Sukmawati Ariani Dewi Puspita Wahyuni"),
  male: words("Sudarma Artawan Suarjana Widiana Mahendra Adnyana Suardana Wirawan Parwata"),
};
/** Older Javanese members often go by a single name. */
const mononyms = {
  female: words("Sumarni Sukarti Suparmi Sulastri Suwarni Tumini Painah Sarinah"),
  male: words("Sutrisno Suparman Sugiyono Sumarno Slamet Riyanto Sarjono Paimin"),
};

const ageBands = [
  ["18-24", 18, 24, 14],
  ["25-34", 25, 34, 30],
  ["35-44", 35, 44, 25],
  ["45-54", 45, 54, 17],
  ["55-64", 55, 64, 10],
  ["65+", 65, 78, 4],
] as const;
type AgeBand = (typeof ageBands)[number][0];

/** Mobile prefixes by operator share (Telkomsel, Indosat, XL/Axis, Tri, Smartfren). */
const mobilePrefixes = [
  [words("0811 0812 0813 0821 0822 0823 0852 0853 0851"), 48],
  [words("0814 0815 0816 0855 0856 0857 0858"), 20],
  [words("0817 0818 0819 0859 0877 0878 0831 0832 0833 0838"), 19],
  [words("0895 0896 0897 0898 0899"), 9],
  [words("0881 0882 0883 0884 0885 0886 0887 0888 0889"), 4],
] as const;
/** Reserved for documentation (RFC 2606): demo emails never reach a real inbox. */
const emailDomains = [
  ["example.com", 50],
  ["example.co.id", 20],
  ["example.net", 18],
  ["example.org", 12],
] as const;

interface Product {
  sku: string;
  name: string;
  category: string;
  priceRupiah: number;
  /** Most units of one line; weighed goods give grams instead. */
  quantityMax: number;
  gramsRange?: readonly [number, number];
  forFamiliesWithBabies?: boolean;
}

interface Category {
  name: string;
  /** How often a basket line comes from this category. */
  share: number;
  quantityMax: number;
  products: readonly (readonly [sku: string, name: string, priceRupiah: number])[];
  gramsRange?: readonly [number, number];
  forFamiliesWithBabies?: boolean;
}

const categories: readonly Category[] = [
  {
    name: "beras",
    share: 4,
    quantityMax: 1,
    products: [
      ["BRS-PANDANWANGI-5KG", "Beras Pandan Wangi 5 kg", 79_500],
      ["BRS-ROJOLELE-5KG", "Beras Rojolele 5 kg", 74_900],
      ["BRS-SETRARAMOS-5KG", "Beras Setra Ramos 5 kg", 76_500],
      ["BRS-SPHP-5KG", "Beras Medium SPHP 5 kg", 62_500],
      ["BRS-MERAH-1KG", "Beras Merah 1 kg", 24_900],
    ],
  },
  {
    name: "minyak goreng",
    share: 5,
    quantityMax: 2,
    products: [
      ["MYK-BIMOLI-2L", "Bimoli Minyak Goreng 2 L", 41_900],
      ["MYK-SANIA-2L", "Sania Minyak Goreng 2 L", 38_900],
      ["MYK-FORTUNE-1L", "Fortune Minyak Goreng 1 L", 19_900],
      ["MYK-MINYAKITA-1L", "Minyakita 1 L", 15_700],
      ["MYK-FILMA-2L", "Filma Minyak Goreng 2 L", 40_500],
    ],
  },
  {
    name: "sembako",
    share: 6,
    quantityMax: 2,
    products: [
      ["SMB-GULAKU-1KG", "Gulaku Gula Tebu 1 kg", 18_900],
      ["SMB-TELUR-10", "Telur Ayam Negeri 10 butir", 28_500],
      ["SMB-TERIGU-SEGITIGA-1KG", "Tepung Terigu Segitiga Biru 1 kg", 13_900],
      ["SMB-TELUR-30", "Telur Ayam Negeri 1 tray (30 butir)", 79_000],
    ],
  },
  {
    name: "susu",
    share: 8,
    quantityMax: 4,
    products: [
      ["SUS-ULTRA-FULLCREAM-1L", "Ultra Milk Full Cream 1 L", 19_900],
      ["SUS-ULTRA-COKLAT-200", "Ultra Milk Cokelat 200 ml", 6_300],
      ["SUS-INDOMILK-KENTAL-370", "Indomilk Kental Manis 370 g", 12_900],
      ["SUS-FRISIANFLAG-KENTAL-370", "Frisian Flag Kental Manis 370 g", 13_500],
      ["SUS-BEARBRAND-189", "Bear Brand 189 ml", 10_900],
      ["SUS-GREENFIELDS-1L", "Greenfields Full Cream 1 L", 24_900],
    ],
  },
  {
    name: "kopi",
    share: 6,
    quantityMax: 2,
    products: [
      ["KOP-KAPALAPI-165", "Kapal Api Special 165 g", 15_900],
      ["KOP-ABCSUSU-10", "Kopi ABC Susu 10 sachet", 15_500],
      ["KOP-GOODDAY-CAPPUCCINO-10", "Good Day Cappuccino 10 sachet", 22_900],
      ["KOP-NESCAFE-CLASSIC-100", "Nescafé Classic 100 g", 37_900],
      ["KOP-TORABIKA-LATTE-10", "Torabika Creamy Latte 10 sachet", 16_900],
      ["KOP-LUWAK-WHITE-10", "Luwak White Koffie 10 sachet", 14_500],
    ],
  },
  {
    name: "teh",
    share: 3,
    quantityMax: 2,
    products: [
      ["TEH-SARIWANGI-25", "Sariwangi Teh Celup 25 kantong", 7_900],
      ["TEH-SOSRO-CELUP-30", "Teh Celup Sosro 30 kantong", 9_900],
      ["TEH-2TANG-25", "Teh Celup 2Tang 25 kantong", 7_500],
    ],
  },
  {
    name: "mie instan",
    share: 12,
    quantityMax: 10,
    products: [
      ["MIE-INDOMIE-GORENG", "Indomie Mi Goreng 85 g", 3_500],
      ["MIE-INDOMIE-SOTO", "Indomie Soto Mie 70 g", 3_300],
      ["MIE-INDOMIE-AYAMBAWANG", "Indomie Ayam Bawang 69 g", 3_300],
      ["MIE-SEDAAP-GORENG", "Mie Sedaap Goreng 90 g", 3_400],
      ["MIE-SEDAAP-KARIAYAM", "Mie Sedaap Kari Ayam 72 g", 3_300],
      ["MIE-SARIMI-ISI2", "Sarimi Isi 2 Ayam Kecap 115 g", 3_900],
      ["MIE-POPMIE-AYAM", "Pop Mie Rasa Ayam 75 g", 5_900],
    ],
  },
  {
    name: "sabun",
    share: 5,
    quantityMax: 3,
    products: [
      ["SBN-LIFEBUOY-BATANG-110", "Lifebuoy Sabun Batang 110 g", 4_900],
      ["SBN-GIV-BATANG-72", "GIV Sabun Batang 72 g", 3_500],
      ["SBN-LUX-BODYWASH-450", "Lux Body Wash 450 ml", 29_900],
      ["SBN-NUVO-BODYWASH-450", "Nuvo Body Wash 450 ml", 24_900],
      ["SBN-DETTOL-BODYWASH-400", "Dettol Body Wash 400 ml", 39_900],
    ],
  },
  {
    name: "perawatan diri",
    share: 4,
    quantityMax: 2,
    products: [
      ["PRW-PEPSODENT-190", "Pepsodent Pasta Gigi 190 g", 13_900],
      ["PRW-SUNSILK-170", "Sunsilk Shampoo 170 ml", 24_500],
      ["PRW-PANTENE-170", "Pantene Shampoo 170 ml", 29_900],
      ["PRW-CLEAR-170", "Clear Shampoo 170 ml", 31_900],
      ["PRW-REXONA-ROLLON-45", "Rexona Roll On 45 ml", 17_900],
    ],
  },
  {
    name: "kebersihan rumah",
    share: 5,
    quantityMax: 2,
    products: [
      ["KBR-RINSO-770", "Rinso Anti Noda 770 g", 24_900],
      ["KBR-SOKLIN-PEWANGI-900", "So Klin Pewangi 900 ml", 14_900],
      ["KBR-SUNLIGHT-755", "Sunlight Jeruk Nipis 755 ml", 17_900],
      ["KBR-WIPOL-750", "Wipol Karbol Cemara 750 ml", 16_500],
      ["KBR-PASEO-TISU-250", "Paseo Tisu Wajah 250 lembar", 13_900],
    ],
  },
  {
    name: "snack",
    share: 12,
    quantityMax: 3,
    products: [
      ["SNK-CHITATO-68", "Chitato Sapi Panggang 68 g", 11_900],
      ["SNK-QTELA-SINGKONG-185", "Qtela Keripik Singkong 185 g", 15_900],
      ["SNK-TARO-65", "Taro Net Seaweed 65 g", 8_900],
      ["SNK-OREO-133", "Oreo Vanilla 133 g", 9_900],
      ["SNK-ROMA-KELAPA-300", "Roma Kelapa 300 g", 10_900],
      ["SNK-GOODTIME-72", "Good Time Chocochips 72 g", 9_900],
      ["SNK-BENGBENG-4", "Beng-Beng 4 pcs", 9_900],
      ["SNK-SILVERQUEEN-58", "SilverQueen Almond 58 g", 15_900],
      ["SNK-KACANG-GARUDA-250", "Kacang Garuda Kulit 250 g", 16_500],
    ],
  },
  {
    name: "minuman",
    share: 14,
    quantityMax: 6,
    products: [
      ["MNM-AQUA-600", "Aqua Air Mineral 600 ml", 3_900],
      ["MNM-AQUA-1500", "Aqua Air Mineral 1,5 L", 6_500],
      ["MNM-LEMINERALE-600", "Le Minerale 600 ml", 3_500],
      ["MNM-TEHBOTOL-450", "Teh Botol Sosro 450 ml", 5_500],
      ["MNM-TEHPUCUK-350", "Teh Pucuk Harum 350 ml", 3_900],
      ["MNM-POCARI-500", "Pocari Sweat 500 ml", 7_900],
      ["MNM-COCACOLA-1500", "Coca-Cola 1,5 L", 16_900],
      ["MNM-YAKULT-5", "Yakult 5 botol", 11_500],
      ["MNM-AQUA-GALON-19L", "Aqua Galon Isi Ulang 19 L", 21_000],
    ],
  },
  {
    name: "bumbu",
    share: 6,
    quantityMax: 2,
    products: [
      ["BMB-BANGO-KECAP-520", "Bango Kecap Manis 520 ml", 24_900],
      ["BMB-ABC-SAMBAL-335", "ABC Saus Sambal 335 ml", 13_900],
      ["BMB-MASAKO-AYAM-250", "Masako Kaldu Ayam 250 g", 11_900],
      ["BMB-REFINA-GARAM-500", "Refina Garam 500 g", 6_500],
      ["BMB-SAORI-TIRAM-133", "Saori Saus Tiram 133 ml", 10_900],
      ["BMB-RACIK-NASIGORENG", "Bumbu Racik Nasi Goreng", 2_900],
    ],
  },
  {
    name: "roti",
    share: 6,
    quantityMax: 2,
    products: [
      ["ROT-SARIROTI-TAWAR", "Sari Roti Tawar Spesial", 20_500],
      ["ROT-SARIROTI-SOBEK-COKLAT", "Sari Roti Sobek Cokelat", 16_500],
      ["ROT-SARIROTI-SANDWICH-COKLAT", "Sari Roti Sandwich Cokelat", 5_500],
      ["ROT-TAWAR-GANDUM", "Roti Tawar Gandum", 22_900],
      ["ROT-SISIR-MENTEGA", "Roti Sisir Mentega", 12_900],
    ],
  },
  {
    name: "buah & sayur",
    share: 6,
    quantityMax: 1,
    gramsRange: [250, 2000],
    // Prices per kg, in whole hundreds of rupiah: with weights in 10 g steps every line is a
    // whole number of rupiah, so nothing is rounded.
    products: [
      ["BSY-PISANG-CAVENDISH-KG", "Pisang Cavendish per kg", 28_900],
      ["BSY-APEL-FUJI-KG", "Apel Fuji per kg", 42_900],
      ["BSY-JERUK-MEDAN-KG", "Jeruk Medan per kg", 32_900],
      ["BSY-TOMAT-KG", "Tomat per kg", 18_900],
      ["BSY-BAWANGMERAH-KG", "Bawang Merah per kg", 44_900],
      ["BSY-KENTANG-KG", "Kentang per kg", 19_900],
    ],
  },
  {
    name: "frozen",
    share: 3,
    quantityMax: 2,
    products: [
      ["FRZ-SOGOOD-NUGGET-400", "So Good Chicken Nugget 400 g", 44_900],
      ["FRZ-FIESTA-NUGGET-500", "Fiesta Chicken Nugget 500 g", 52_900],
      ["FRZ-BERNARDI-SOSIS-500", "Bernardi Sosis Sapi 500 g", 35_900],
    ],
  },
  {
    name: "bayi",
    share: 3,
    quantityMax: 1,
    forFamiliesWithBabies: true,
    products: [
      ["BYI-MAMYPOKO-M34", "MamyPoko Pants M 34", 112_500],
      ["BYI-SWEETY-L28", "Sweety Silver Pants L 28", 89_900],
      ["BYI-ZWITSAL-BATH-200", "Zwitsal Baby Bath 200 ml", 21_900],
      ["BYI-DANCOW-FORTIGRO-800", "Dancow FortiGro 800 g", 109_000],
      ["BYI-SGM-EKSPLOR-900", "SGM Eksplor 1+ 900 g", 119_500],
    ],
  },
];

export const demoCatalogue: readonly Product[] = categories.flatMap((category) =>
  category.products.map(([sku, name, priceRupiah]) => ({
    sku,
    name,
    category: category.name,
    priceRupiah,
    quantityMax: category.quantityMax,
    ...(category.gramsRange && { gramsRange: category.gramsRange }),
    ...(category.forFamiliesWithBabies && { forFamiliesWithBabies: true }),
  })),
);
const categoryChoices = categories.map((category) => [category, category.share] as const);
/** Within a category the first product sells best, as one brand leads each shelf. */
const productChoicesByCategory = new Map(
  categories.map((category) => [
    category,
    demoCatalogue
      .filter((product) => product.category === category.name)
      .map((product, rank) => [product, 1 / (rank + 1) ** 0.7] as const),
  ]),
);

/** Vouchers worth about 1% of the spend that earned the points. */
const rewards = [
  { points: 500, name: "Voucher belanja Rp 50.000" },
  { points: 200, name: "Voucher belanja Rp 20.000" },
  { points: 100, name: "Voucher belanja Rp 10.000" },
  { points: 50, name: "Voucher belanja Rp 5.000" },
] as const;

/** Opening hours and how busy each hour is, in Jakarta time. */
const storeHourWeights = hourWeights(8, [3, 4, 5, 6, 7, 6, 5, 5, 7, 9, 10, 10, 8, 5]);
// Online orders stop at 23:00, so a redemption just after an order stays on the same day.
const onlineHourWeights = hourWeights(6, [2, 3, 4, 5, 5, 5, 6, 5, 5, 5, 5, 6, 7, 9, 10, 10, 7]);

function hourWeights(firstHour: number, weights: number[]): (readonly [number, number])[] {
  return weights.map((weight, index) => [firstHour + index, weight] as const);
}

// ---------------------------------------------------------------------------------------------
// The plan

type Archetype = "loyal" | "regular" | "occasional" | "churned" | "newcomer";

interface Behaviour {
  share: number;
  gapMeanDays: number;
  lineCountChoices: readonly (readonly [number, number])[];
}

/** Loyal members top up often with small baskets; occasional ones stock up. */
const behaviours: Record<Archetype, Behaviour> = {
  loyal: { share: 18, gapMeanDays: 7, lineCountChoices: counts([14, 20, 20, 16, 12, 8, 6, 4]) },
  regular: { share: 30, gapMeanDays: 18, lineCountChoices: counts([8, 14, 18, 18, 15, 12, 9, 6]) },
  occasional: {
    share: 25,
    gapMeanDays: 45,
    lineCountChoices: counts([6, 10, 14, 18, 18, 14, 11, 9]),
  },
  churned: { share: 16, gapMeanDays: 12, lineCountChoices: counts([10, 16, 20, 18, 14, 10, 7, 5]) },
  newcomer: {
    share: 11,
    gapMeanDays: 10,
    lineCountChoices: counts([10, 16, 20, 18, 14, 10, 7, 5]),
  },
};
const anonymousLineCountChoices = counts([34, 28, 18, 12, 8]);
const onlineLineCountChoices = counts([0, 0, 10, 16, 20, 20, 18, 16]);

/** Weights for 1, 2, 3… basket lines. */
function counts(weights: number[]): (readonly [number, number])[] {
  return weights.map((weight, index) => [index + 1, weight] as const);
}

interface PlannedMember {
  index: number;
  input: MemberEnrol;
  /** A shopper's phone as typed at the till, e.g. 081234567890. */
  phoneLocal: string;
}

interface PlannedLine {
  sku: string;
  category: string;
  quantity: number;
  unitPriceMinor: number;
  amountMinor: number;
}

interface PlannedPurchase {
  kind: "purchase";
  atMs: number;
  order: number;
  store: Store;
  externalId: string;
  lines: PlannedLine[];
  totalMinor: number;
  member: { index: number; identifiedBy: "phone" | "card" | "id" } | null;
}

interface PlannedRefund {
  kind: "refund";
  atMs: number;
  order: number;
  purchase: PlannedPurchase;
  externalId: string;
  /** A whole line (by its number) or, when null, the whole receipt by amount. */
  line: { lineNo: number; quantity: number } | null;
}

interface PlannedEnrol {
  kind: "enrol";
  atMs: number;
  order: number;
  member: PlannedMember;
}

/** A member who saves for a voucher asks for one at the till once the balance allows. */
interface PlannedRedeemAttempt {
  kind: "redeem";
  atMs: number;
  order: number;
  member: number;
  thresholdPoints: number;
}

type PlannedEvent = PlannedEnrol | PlannedPurchase | PlannedRefund | PlannedRedeemAttempt;

export interface DemoPlan {
  members: PlannedMember[];
  events: PlannedEvent[];
  purchases: PlannedPurchase[];
}

/** Day `daysAgo` before the anchor (the last Jakarta midnight), at a given minute of the day. */
function relativeMs(daysAgo: number, minuteOfDay: number, second = 0): number {
  return -daysAgo * dayMs + minuteOfDay * minuteMs + second * 1000;
}

function minuteOfDayFor(rng: SeededRandom, channel: Channel): number {
  const hour = rng.weighted(channel === "pos" ? storeHourWeights : onlineHourWeights);
  return hour * 60 + rng.int(0, 59);
}

function drawPhone(rng: SeededRandom, taken: Set<string>): { local: string; e164: string } {
  for (;;) {
    const prefix = rng.pick(rng.weighted(mobilePrefixes));
    const subscriberDigits = rng.weighted([
      [8, 80],
      [7, 12],
      [9, 8],
    ] as const);
    let local = prefix;
    for (let digit = 0; digit < subscriberDigits; digit++) local += String(rng.int(0, 9));
    const e164 = normalizePhone(local);
    if (!taken.has(e164)) {
      taken.add(e164);
      return { local, e164 };
    }
  }
}

function drawName(rng: SeededRandom, region: Region, gender: "female" | "male", age: number) {
  if (region === "bali" && rng.chance(0.8)) {
    const title = gender === "female" ? "Ni" : "I";
    const given = rng.pick(balineseGiven[gender]);
    return `${title} ${rng.pick(balineseBirthOrder[gender])} ${given}`;
  }
  if ((region === "jawa" || region === "jakarta") && age >= 45 && rng.chance(0.3)) {
    return rng.pick(mononyms[gender]);
  }
  const regional = regionalNames[region];
  const pool = regional && rng.chance(0.65) ? regional : nationalNames;
  const first = rng.pick(pool[gender]);
  const last = rng.pick(pool.last);
  const family = typeof last === "string" ? last : last[gender === "female" ? 0 : 1];
  return family === first ? first : `${first} ${family}`;
}

function drawEmail(rng: SeededRandom, name: string, age: number, taken: Set<string>) {
  const parts = name
    .toLowerCase()
    .replace(/[^a-z ]/g, "")
    .split(" ")
    .filter((part) => part.length > 1 && part !== "ni");
  const first = parts[0] ?? "member";
  const last = parts.at(-1) ?? "";
  const separator = rng.pick([".", "_", ""]);
  const suffix = rng.weighted([
    ["", 3],
    // Looks like a birth year, but from a fixed year, so emails do not change with the clock.
    [String((2025 - age) % 100).padStart(2, "0"), 4],
    [String(rng.int(1, 999)), 3],
  ] as const);
  const domain = rng.weighted(emailDomains);
  let local = last && last !== first ? `${first}${separator}${last}${suffix}` : `${first}${suffix}`;
  while (taken.has(`${local}@${domain}`)) local += String(rng.int(0, 9));
  taken.add(`${local}@${domain}`);
  return `${local}@${domain}`;
}

interface Shopper {
  index: number;
  archetype: Archetype;
  homeStore: Store;
  /** Share of visits made online or in the app. */
  digitalShare: number;
  usesApp: boolean;
  hasBaby: boolean;
  favourites: Product[];
  redeemThresholdPoints: number | null;
}

function drawProduct(rng: SeededRandom, hasBaby: boolean): Product {
  for (;;) {
    const category = rng.weighted(categoryChoices);
    if (category.forFamiliesWithBabies && !hasBaby) continue;
    return rng.weighted(productChoicesByCategory.get(category) ?? []);
  }
}

function drawBasket(
  rng: SeededRandom,
  lineCountChoices: Behaviour["lineCountChoices"],
  shopper: Shopper | null,
): PlannedLine[] {
  const lineCount = rng.weighted(lineCountChoices);
  const lines: PlannedLine[] = [];
  const chosen = new Set<string>();
  for (let attempt = 0; lines.length < lineCount && attempt < lineCount * 4; attempt++) {
    const product =
      shopper && rng.chance(0.45)
        ? rng.pick(shopper.favourites)
        : drawProduct(rng, shopper?.hasBaby ?? rng.chance(0.1));
    if (chosen.has(product.sku)) continue;
    chosen.add(product.sku);
    const unitPriceMinor = product.priceRupiah * 100;
    if (product.gramsRange) {
      const [gramsMin, gramsMax] = product.gramsRange;
      const grams = rng.int(gramsMin / 10, gramsMax / 10) * 10;
      lines.push({
        sku: product.sku,
        category: product.category,
        quantity: grams / 1000,
        unitPriceMinor,
        amountMinor: (grams * unitPriceMinor) / 1000,
      });
      continue;
    }
    const quantity =
      product.quantityMax === 1 || rng.chance(0.7) ? 1 : rng.int(2, product.quantityMax);
    lines.push({
      sku: product.sku,
      category: product.category,
      quantity,
      unitPriceMinor,
      amountMinor: quantity * unitPriceMinor,
    });
  }
  return lines;
}

function drawShopper(rng: SeededRandom, index: number): Shopper {
  const archetype = rng.weighted(
    (Object.keys(behaviours) as Archetype[]).map((name) => [name, behaviours[name].share] as const),
  );
  const homeStore = rng.weighted(physicalStoreChoices);
  const usesApp = rng.chance(0.3);
  const digitalShare = rng.chance(0.35) ? 0.1 + rng.next() * 0.4 : 0;
  const hasBaby = rng.chance(0.12);
  const favourites: Product[] = [];
  while (favourites.length < 6) favourites.push(drawProduct(rng, hasBaby));
  const saver = archetype !== "occasional" && rng.chance(0.45);
  const redeemThresholdPoints = saver ? rng.pick([50, 100, 100, 200, 500]) : null;
  return {
    index,
    archetype,
    homeStore,
    digitalShare,
    usesApp,
    hasBaby,
    favourites,
    redeemThresholdPoints,
  };
}

/** When the member enrolled, in days before the anchor. */
function drawEnrolDaysAgo(rng: SeededRandom, archetype: Archetype): number {
  if (archetype === "newcomer") return rng.int(1, 75);
  if (archetype === "churned") return rng.int(160, historyDays);
  // A launch wave in the first month, then a steady trickle through the year.
  return rng.chance(0.35) ? rng.int(historyDays - 30, historyDays) : rng.int(76, historyDays - 31);
}

function drawProfile(
  rng: SeededRandom,
  shopper: Shopper,
  anchorDate: Date,
  taken: { phones: Set<string>; emails: Set<string> },
): { input: MemberEnrol; phoneLocal: string } {
  const store = shopper.homeStore;
  const gender = rng.chance(0.62) ? "female" : "male";
  const [band, ageMin, ageMax] = rng.weighted(ageBands.map((entry) => [entry, entry[3]] as const));
  const age = rng.int(ageMin, ageMax);
  const name = drawName(rng, store.region, gender, age);
  const phone = drawPhone(rng, taken.phones);
  const birthday = new Date(anchorDate.getTime() - (age * 365.25 + rng.int(0, 364)) * dayMs);
  const channel: Channel =
    shopper.usesApp && rng.chance(0.3) ? "app" : rng.chance(0.08) ? "online" : "pos";
  const hasEmail = channel !== "pos" ? rng.chance(0.9) : rng.chance(0.45);
  const email = hasEmail ? drawEmail(rng, name, age, taken.emails) : undefined;
  // Data minimisation: many members give only some of their profile.
  const givesBirthday = rng.chance(0.65);
  const raw = {
    phone: phone.local,
    ...(email !== undefined && { email }),
    name,
    ...(givesBirthday && { birthday: birthday.toISOString().slice(0, 10) }),
    ...(rng.chance(0.88) && { city: rng.chance(0.7) ? store.city : rng.pick(store.memberCities) }),
    ...(rng.chance(0.9) && { gender: rng.chance(0.96) ? gender : "undisclosed" }),
    ...((givesBirthday || rng.chance(0.5)) && { ageBand: band as AgeBand }),
    consents: {
      terms: true,
      marketing: {
        whatsapp: rng.chance(0.55),
        sms: rng.chance(0.25),
        ...(email !== undefined && { email: rng.chance(0.45) }),
        ...(shopper.usesApp && { push: rng.chance(0.6) }),
      },
    },
    channel,
    ...(channel === "pos" && { storeId: store.id }),
  };
  return { input: memberEnrolSchema.parse(raw), phoneLocal: phone.local };
}

/**
 * Plans the whole demo in memory. Pure: the same seed and member count give the same plan, with
 * times relative to `anchorMs` (the last Jakarta midnight).
 */
export function planDemo(options: { members: number; seed: number }, anchorMs: number): DemoPlan {
  const anchorDate = new Date(anchorMs + jakartaOffsetMs);
  const taken = { phones: new Set<string>(), emails: new Set<string>() };
  const members: PlannedMember[] = [];
  const events: PlannedEvent[] = [];
  const purchases: PlannedPurchase[] = [];
  let order = 0;

  const addPurchase = (
    rng: SeededRandom,
    atMs: number,
    store: Store,
    lines: PlannedLine[],
    member: PlannedPurchase["member"],
  ) => {
    const purchase: PlannedPurchase = {
      kind: "purchase",
      atMs,
      order: order++,
      store,
      externalId: "",
      lines,
      totalMinor: lines.reduce((sum, line) => sum + line.amountMinor, 0),
      member,
    };
    purchases.push(purchase);
    events.push(purchase);
    if (rng.chance(refundProbability)) {
      // Most returns come back within the 7-day window; a few after the points were released.
      const daysLater = rng.chance(0.85) ? rng.int(1, 6) : rng.int(8, 14);
      const refundAtMs =
        Math.floor(atMs / dayMs) * dayMs +
        relativeMs(-daysLater, minuteOfDayFor(rng, store.channel));
      const partial = lines.length > 1 && rng.chance(0.6);
      const lineIndex = rng.int(0, lines.length - 1);
      const line = lines[lineIndex];
      if (refundAtMs < 0 && line) {
        events.push({
          kind: "refund",
          atMs: refundAtMs,
          order: order++,
          purchase,
          externalId: "",
          line: partial
            ? {
                lineNo: lineIndex + 1,
                quantity: Number.isInteger(line.quantity) ? 1 : line.quantity,
              }
            : null,
        });
      }
    }
  };

  let memberPurchaseCount = 0;
  for (let index = 0; index < options.members; index++) {
    const rng = new SeededRandom(options.seed, "member", index);
    const shopper = drawShopper(rng, index);
    const behaviour = behaviours[shopper.archetype];
    const enrolDaysAgo = drawEnrolDaysAgo(rng, shopper.archetype);
    const enrolAtMs = relativeMs(enrolDaysAgo, minuteOfDayFor(rng, "pos"));
    const profile = drawProfile(rng, shopper, anchorDate, taken);
    const member: PlannedMember = { index, ...profile };
    members.push(member);
    events.push({ kind: "enrol", atMs: enrolAtMs, order: order++, member });

    const lastActiveDaysAgo =
      shopper.archetype === "churned" ? Math.max(1, enrolDaysAgo - rng.int(30, 150)) : 1;
    const enrolChannel = profile.input.channel;
    let daysAgo = enrolDaysAgo;
    let atMs = enrolAtMs + rng.int(60, 240) * 1000;
    let channel: Channel = enrolChannel;
    for (let visit = 0; daysAgo >= lastActiveDaysAgo; visit++) {
      // The first purchase follows the enrolment at the home store's till.
      const store =
        channel !== "pos"
          ? storeOf(channel)
          : visit === 0 || rng.chance(0.93)
            ? shopper.homeStore
            : rng.pick(physicalStores);
      const lines = drawBasket(
        rng,
        channel === "pos" ? behaviour.lineCountChoices : onlineLineCountChoices,
        shopper,
      );
      const identifiedBy = channel !== "pos" ? "id" : rng.chance(0.6) ? "phone" : "card";
      addPurchase(rng, atMs, store, lines, { index, identifiedBy });
      memberPurchaseCount++;
      if (shopper.redeemThresholdPoints !== null && visit >= 3 && rng.chance(0.3)) {
        events.push({
          kind: "redeem",
          atMs: atMs + 45_000,
          order: order++,
          member: index,
          thresholdPoints: shopper.redeemThresholdPoints,
        });
      }
      // Erlang-2 gaps: more regular than exponential, as habits are.
      const gapDays =
        rng.exponential(behaviour.gapMeanDays / 2) + rng.exponential(behaviour.gapMeanDays / 2);
      daysAgo -= Math.max(1, Math.round(gapDays));
      channel = rng.chance(shopper.digitalShare) ? (shopper.usesApp ? "app" : "online") : "pos";
      atMs = relativeMs(daysAgo, minuteOfDayFor(rng, channel), rng.int(0, 59));
    }
  }

  const anonymous = new SeededRandom(options.seed, "anonymous");
  const anonymousCount = Math.round(memberPurchaseCount * anonymousPerMemberPurchase);
  for (let count = 0; count < anonymousCount; count++) {
    const store = anonymous.weighted(physicalStoreChoices);
    const daysAgo = anonymous.int(1, historyDays);
    const atMs = relativeMs(daysAgo, minuteOfDayFor(anonymous, "pos"), anonymous.int(0, 59));
    addPurchase(
      anonymous,
      atMs,
      store,
      drawBasket(anonymous, anonymousLineCountChoices, null),
      null,
    );
  }

  events.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
  // Receipt numbers run per store in time order, as a till prints them.
  const receiptCounts = new Map<string, number>();
  const refundCounts = new Map<string, number>();
  for (const event of events) {
    if (event.kind === "purchase") {
      const next = (receiptCounts.get(event.store.id) ?? 0) + 1;
      receiptCounts.set(event.store.id, next);
      event.externalId = `${event.store.id}-${String(next).padStart(7, "0")}`;
    } else if (event.kind === "refund") {
      const storeId = event.purchase.store.id;
      const next = (refundCounts.get(storeId) ?? 0) + 1;
      refundCounts.set(storeId, next);
      event.externalId = `${storeId}-RT-${String(next).padStart(5, "0")}`;
    }
  }
  return { members, events, purchases };
}

// ---------------------------------------------------------------------------------------------
// Writing the plan

/** The last midnight in Jakarta at or before `now`. */
function jakartaMidnightMs(now: Date): number {
  return Math.floor((now.getTime() + jakartaOffsetMs) / dayMs) * dayMs - jakartaOffsetMs;
}

interface Enrolled {
  id: string;
  cardNumber: string;
}

/** Writes an enrolment, a refund or a redemption at its own time. */
async function writeEvent(
  tx: Tx,
  clockCtx: Pick<Ctx, "clock">,
  programId: string,
  event: Exclude<PlannedEvent, PlannedPurchase>,
  at: Date,
  enrolled: Map<number, Enrolled>,
): Promise<void> {
  switch (event.kind) {
    case "enrol": {
      const member = await enrolMember(tx, at, programId, event.member.input);
      enrolled.set(event.member.index, { id: member.id, cardNumber: member.cardNumber });
      return;
    }
    case "refund": {
      const { purchase } = event;
      await recordRefund(
        tx,
        clockCtx,
        programId,
        refundSchema.parse({
          externalId: event.externalId,
          transaction: { storeId: purchase.store.id, externalId: purchase.externalId },
          ...(event.line
            ? { lines: [event.line] }
            : { amount: fromMinor(purchase.totalMinor, "IDR") }),
        }),
      );
      return;
    }
    case "redeem": {
      const member = enrolled.get(event.member);
      if (!member) throw new Error(`member ${event.member} redeems before enrolling`);
      const balance = await readBalance(tx, member.id);
      if (balance.available < event.thresholdPoints) return;
      const reward = rewards.find((candidate) => candidate.points <= balance.available);
      if (!reward) return;
      await redeem(tx, {
        programId,
        memberId: member.id,
        points: reward.points,
        reason: `Tukar poin: ${reward.name}`,
        at,
      });
      return;
    }
  }
}

function purchaseInput(
  purchase: PlannedPurchase,
  anchorMs: number,
  plan: DemoPlan,
  enrolled: Map<number, Enrolled>,
): PurchaseInput {
  let member: PurchaseInput["member"];
  if (purchase.member) {
    const { index, identifiedBy } = purchase.member;
    const found = enrolled.get(index);
    const planned = plan.members[index];
    if (!found || !planned) throw new Error(`member ${index} buys before enrolling`);
    member =
      identifiedBy === "id"
        ? { id: found.id }
        : identifiedBy === "card"
          ? { card: found.cardNumber }
          : { phone: planned.phoneLocal };
  }
  return purchaseSchema.parse({
    externalId: purchase.externalId,
    storeId: purchase.store.id,
    channel: purchase.store.channel,
    occurredAt: new Date(anchorMs + purchase.atMs).toISOString(),
    currency: "IDR",
    total: fromMinor(purchase.totalMinor, "IDR"),
    ...(member && { member }),
    lines: purchase.lines.map((line) => ({
      sku: line.sku,
      category: line.category,
      quantity: line.quantity,
      unitPrice: fromMinor(line.unitPriceMinor, "IDR"),
    })),
  });
}

/**
 * Seeds the demo program, or, when a program of that name exists, answers its summary without
 * writing anything.
 */
export async function seedDemo(ctx: Ctx, options: DemoOptions): Promise<DemoSummary> {
  const startedMs = performance.now();
  if (!Number.isSafeInteger(options.members) || options.members < 1 || options.members > 200_000) {
    throw new DomainError("validation_failed", "members must be a whole number from 1 to 200000");
  }
  if (!Number.isSafeInteger(options.seed)) {
    throw new DomainError("validation_failed", "seed must be a whole number");
  }
  const existing = await ctx.db.kysely
    .selectFrom("programs")
    .select("id")
    .where("name", "=", demoProgramName)
    .orderBy("id")
    .executeTakeFirst();
  if (existing) {
    return summarize(ctx, existing.id, {
      created: false,
      seed: null,
      keys: null,
      startedMs,
    });
  }

  const anchorMs = jakartaMidnightMs(ctx.clock.now());
  const plan = planDemo(options, anchorMs);
  // Replayed under a simulated clock: each write happens at its own time in the past.
  const clock = new ManualClock(new Date(anchorMs + relativeMs(historyDays + 1, 10 * 60)));
  const simulated: Ctx = { ...ctx, clock };
  const program = await createProgram(
    simulated,
    programCreateSchema.parse({
      name: demoProgramName,
      currency: "IDR",
      timezone: "Asia/Jakarta",
      locale: "id",
      earnRate: { points: 1, per: "10000", rounding: "floor" },
      expiry: { policy: "months_after_earn", months: 12 },
      returnsWindowDays: 7,
      refundPolicy: "allow_negative",
    }),
  );
  const admin = await createApiKey(simulated, program.id, { name: "demo admin", role: "admin" });
  const pos = await createApiKey(simulated, program.id, { name: "demo till", role: "pos" });
  await simulated.db.transaction(async (tx) => {
    for (const shop of physicalStores) {
      await createStore(
        tx,
        clock.now(),
        program.id,
        storeCreateSchema.parse({ code: shop.id, name: shop.name, city: shop.city }),
      );
    }
  });

  const enrolled = new Map<number, Enrolled>();
  let next = 0;
  let purchasesWritten = 0;
  for (let daysAgo = historyDays; daysAgo >= 1; daysAgo--) {
    clock.set(new Date(anchorMs + relativeMs(daysAgo, jobsMinuteOfDay)));
    await runJobsOnce(simulated);
    const dayEndMs = relativeMs(daysAgo - 1, 0);
    while (next < plan.events.length && (plan.events[next]?.atMs ?? 0) < dayEndMs) {
      // Receipts wait for the next till sync; everything else happens at its own time.
      const syncMs =
        (Math.floor((plan.events[next]?.atMs ?? 0) / tillSyncIntervalMs) + 1) * tillSyncIntervalMs;
      const others: Exclude<PlannedEvent, PlannedPurchase>[] = [];
      const purchases: PlannedPurchase[] = [];
      for (; next < plan.events.length && (plan.events[next]?.atMs ?? 0) < syncMs; next++) {
        const event = plan.events[next] as PlannedEvent;
        if (event.kind === "purchase") purchases.push(event);
        else others.push(event);
      }
      if (others.length > 0) {
        await ctx.db.transaction(async (tx) => {
          for (const event of others) {
            const at = new Date(anchorMs + event.atMs);
            clock.set(at);
            await writeEvent(tx, simulated, program.id, event, at, enrolled);
          }
        });
      }
      clock.set(new Date(anchorMs + syncMs));
      for (let start = 0; start < purchases.length; start += batchSizeMax) {
        const inputs = purchases
          .slice(start, start + batchSizeMax)
          .map((purchase) => purchaseInput(purchase, anchorMs, plan, enrolled));
        const results = await recordPurchaseBatch(simulated, program.id, inputs);
        const refused = results.find((result) => result.status !== "created");
        if (refused) throw new Error(`demo purchase refused: ${JSON.stringify(refused)}`);
      }
      purchasesWritten += purchases.length;
    }
    options.onProgress?.({
      day: historyDays - daysAgo + 1,
      days: historyDays,
      purchases: purchasesWritten,
    });
  }
  invariant(next === plan.events.length, "every planned event falls on a simulated day");
  // Back on the real clock: release what has become available since and expire old lots.
  await runJobsOnce(ctx);
  return summarize(ctx, program.id, {
    created: true,
    seed: options.seed,
    keys: { admin: admin.secret, pos: pos.secret },
    startedMs,
  });
}

async function summarize(
  ctx: Ctx,
  programId: string,
  run: { created: boolean; seed: number | null; keys: DemoSummary["keys"]; startedMs: number },
): Promise<DemoSummary> {
  const db = ctx.db.kysely;
  const purchases = await db
    .selectFrom("transactions")
    .where("program_id", "=", programId)
    .select((eb) => [
      eb.fn.countAll<number>().as("all"),
      eb.fn.count<number>("member_id").as("withMember"),
      sql<number>`count(distinct store_id)`.as("stores"),
      eb.fn.min("occurred_at").as("from"),
      eb.fn.max("occurred_at").as("to"),
    ])
    .executeTakeFirstOrThrow();
  const countOf = async (table: "members" | "refunds") =>
    Number(
      (
        await db
          .selectFrom(table)
          .where("program_id", "=", programId)
          .select((eb) => eb.fn.countAll<number>().as("count"))
          .executeTakeFirstOrThrow()
      ).count,
    );
  const redemptions = await db
    .selectFrom("journal_entries")
    .where("program_id", "=", programId)
    .where("kind", "=", "redeem")
    .select((eb) => eb.fn.countAll<number>().as("count"))
    .executeTakeFirstOrThrow();
  const first = await db
    .selectFrom("members")
    .select("id")
    .where("program_id", "=", programId)
    .orderBy("id")
    .executeTakeFirst();
  const example = first && (await findMemberRow(db, programId, { id: first.id }));
  const toIso = (value: Date | string | null) =>
    value === null ? null : new Date(value).toISOString();
  const all = Number(purchases.all);
  return {
    programId,
    programName: demoProgramName,
    created: run.created,
    seed: run.seed,
    keys: run.keys,
    period: { from: toIso(purchases.from), to: toIso(purchases.to) },
    stores: stores.map(({ id, name, city, channel }) => ({ id, name, city, channel })),
    counts: {
      members: await countOf("members"),
      stores: Number(purchases.stores),
      products: demoCatalogue.length,
      purchases: all,
      anonymousPurchases: all - Number(purchases.withMember),
      refunds: await countOf("refunds"),
      redemptions: Number(redemptions.count),
    },
    points: await programAccounts(db, programId),
    examplePhone: example?.phone_e164 ?? null,
    durationMs: Math.round(performance.now() - run.startedMs),
    note: run.created
      ? "Keys are shown once. Demo phone numbers are random but valid and may belong to real people: do not connect an SMS or WhatsApp provider to this program."
      : `"${demoProgramName}" already exists; nothing was written. Create keys with: setia keys create --program ${programId} --role admin`,
  };
}

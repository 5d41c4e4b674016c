//! What the demo brands are and what their audiences say. `{h}` in a text is the
//! brand's main handle.

use crate::Network;

/// What a post is, which decides when the history uses it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Praise,
    Neutral,
    Complaint,
    /// Addressed to the brand, asking or complaining: a ticket.
    Question,
    /// Accuses the brand of failing its first value.
    Accusation,
    /// One of the posts of the brand's crisis.
    Crisis,
}

pub struct Author {
    pub handle: &'static str,
    /// Followers on day 0 and on the last day.
    pub followers: (i64, i64),
    /// The days it posts in (rising ones late, fading ones early).
    pub active: (i64, i64),
    /// Posts a day when active.
    pub rate: f64,
    /// Engagement a post gets, per 1,000 followers.
    pub engagement: i64,
    /// What it says.
    pub kinds: &'static [Kind],
}

pub struct Brand {
    pub name: &'static str,
    pub sector: &'static str,
    pub time_zone: &'static str,
    pub language: &'static str,
    pub keywords: &'static [&'static str],
    pub handles: &'static [(Network, &'static str)],
    /// Name, description, keywords; the first is the one accusations are about.
    pub values: &'static [(&'static str, &'static str, &'static [&'static str])],
    /// Name and target share.
    pub pillars: &'static [(&'static str, f64)],
    /// Content titles, one per calendar slot, in turn; the first pillar's and value's.
    pub posts: &'static [&'static str],
    /// Ordinary posts a weekday (weekends get 60 %).
    pub daily: f64,
    pub texts: &'static [(Kind, &'static str)],
    pub influencers: &'static [Author],
    /// The day and UTC hour its crisis starts, if it has one, and whether the agency has
    /// dealt with it (a resolved crisis) or it is still open (last night's).
    pub crisis: Option<(i64, u32, bool)>,
    /// The day its value-gap wave happens, if it has one.
    pub accusation_wave: Option<i64>,
}

pub const BRANDS: &[Brand] = &[
    Brand {
        name: "Verdure Cosmetics",
        sector: "cosmetics",
        time_zone: "Europe/Paris",
        language: "fr",
        keywords: &["verdure", "verdure cosmetics", "#verdure"],
        handles: &[(Network::Mastodon, "verdure_fr"), (Network::Instagram, "verdurecosmetics")],
        values: &[
            (
                "Zéro plastique",
                "Nos emballages sont sans plastique.",
                &["plastique", "plastic", "emballage", "packaging"],
            ),
            ("Cruelty free", "No testing on animals, ever.", &["animal testing", "tests sur les animaux", "cruelty"]),
        ],
        pillars: &[("Emballages responsables", 0.5), ("Ingrédients naturels", 0.3)],
        posts: &[
            "Nos recharges sans plastique arrivent en magasin",
            "Dans les coulisses de nos ingrédients bio",
            "Le vrac en pratique : mode d'emploi",
            "Rencontre avec nos producteurs de lavande",
        ],
        daily: 22.0,
        texts: &[
            (Kind::Praise, "J'adore le shampoing solide Verdure, vraiment efficace 🌱"),
            (Kind::Praise, "Deuxième commande chez Verdure, toujours aussi contente, bravo pour les recharges"),
            (Kind::Praise, "La crème de nuit Verdure est top, ma peau la remercie"),
            (Kind::Praise, "Verdure cosmetics: love the solid shampoo, great stuff"),
            (Kind::Neutral, "Quelqu'un a testé le nouveau déodorant Verdure ?"),
            (Kind::Neutral, "Verdure ouvre une boutique à Lyon la semaine prochaine"),
            (Kind::Complaint, "Déçue par le baume Verdure, il sèche trop vite"),
            (Kind::Complaint, "Verdure cosmetics: not good, the cream irritated my skin 😞"),
            (Kind::Question, "@verdure_fr où est ma commande ? Toujours pas reçue après deux semaines"),
            (Kind::Question, "@verdure_fr bonjour, vos recharges sont-elles compatibles avec l'ancien flacon ?"),
            (Kind::Question, "@verdure_fr my parcel arrived damaged, can you help?"),
            (Kind::Accusation, "@verdure_fr vous promettez zéro plastique mais mon colis en était plein. Honteux !"),
            (Kind::Accusation, "Verdure se dit zéro plastique mais tout arrive sous film, c'est du greenwashing"),
            (Kind::Accusation, "Soi-disant zéro plastique chez Verdure, regardez ce colis"),
        ],
        influencers: &[
            Author {
                handle: "camille_zd",
                followers: (48_000, 300_000),
                active: (0, 60),
                rate: 0.35,
                engagement: 45,
                kinds: &[Kind::Praise, Kind::Praise, Kind::Neutral],
            },
            Author {
                handle: "lea.beaute",
                followers: (1_250_000, 1_310_000),
                active: (10, 60),
                rate: 0.12,
                engagement: 14,
                kinds: &[Kind::Praise, Kind::Neutral],
            },
            Author {
                handle: "marie.eco",
                followers: (220_000, 205_000),
                active: (0, 24),
                rate: 0.4,
                engagement: 20,
                kinds: &[Kind::Praise, Kind::Complaint],
            },
        ],
        crisis: None,
        accusation_wave: Some(50),
    },
    Brand {
        name: "Rapido Bikes",
        sector: "mobility",
        time_zone: "America/New_York",
        language: "en",
        keywords: &["rapido bikes", "rapidobikes", "#rapido"],
        handles: &[(Network::Mastodon, "rapidobikes"), (Network::Bluesky, "rapidobikes.bsky.social")],
        values: &[(
            "Fair wages",
            "Everyone who builds our bikes earns a living wage.",
            &["wage", "salary", "underpaid", "sweatshop"],
        )],
        pillars: &[("Safe streets", 0.4), ("Fair work", 0.4)],
        posts: &[
            "How we test every brake before it ships",
            "Meet the team that builds your frame",
            "Five tips for winter commuting",
            "Our living-wage report, in plain words",
        ],
        daily: 18.0,
        texts: &[
            (Kind::Praise, "Rapido Bikes commute today was smooth, love this bike"),
            (Kind::Praise, "Three months with my Rapido Bikes e-bike: best purchase this year"),
            (Kind::Praise, "Shoutout to Rapido Bikes support, fixed my gears in a day"),
            (Kind::Neutral, "Rapido Bikes opens a new store downtown next week"),
            (Kind::Neutral, "Anyone tried the Rapido Bikes cargo model?"),
            (Kind::Complaint, "Rapido Bikes battery died after 20 km, disappointed"),
            (Kind::Complaint, "The Rapido Bikes app keeps logging me out, annoying"),
            (Kind::Question, "@rapidobikes my order is two weeks late, any update?"),
            (Kind::Question, "@rapidobikes how do I book a repair slot?"),
            (Kind::Accusation, "Rapido Bikes claims fair wages but the factory workers are underpaid"),
            (Kind::Crisis, "Rapido Bikes app is down and my bike is locked, stuck on the street, terrible"),
            (Kind::Crisis, "@rapidobikes your app locked every bike in town, this is a disaster"),
            (Kind::Crisis, "Rapido Bikes outage again, late for work, worst service ever"),
        ],
        influencers: &[
            Author {
                handle: "urban_rider",
                followers: (15_000, 95_000),
                active: (5, 60),
                rate: 0.45,
                engagement: 60,
                kinds: &[Kind::Praise, Kind::Neutral, Kind::Praise],
            },
            Author {
                handle: "cyclelife",
                followers: (610_000, 640_000),
                active: (0, 60),
                rate: 0.15,
                engagement: 12,
                kinds: &[Kind::Praise, Kind::Complaint, Kind::Neutral],
            },
            Author {
                handle: "bike_mom",
                followers: (32_000, 29_000),
                active: (0, 28),
                rate: 0.35,
                engagement: 30,
                kinds: &[Kind::Praise, Kind::Neutral],
            },
        ],
        crisis: Some((38, 21, true)),
        accusation_wave: None,
    },
    Brand {
        name: "Fournée",
        sector: "food",
        time_zone: "Europe/Paris",
        language: "fr",
        keywords: &["fournée", "fournee", "#fournee"],
        handles: &[(Network::Mastodon, "fournee"), (Network::Instagram, "fournee.boulangerie")],
        values: &[(
            "Farines locales",
            "Nos farines viennent de moulins à moins de 200 km.",
            &["farine", "flour", "local", "moulin"],
        )],
        pillars: &[("Circuits courts", 0.5), ("Anti-gaspillage", 0.3)],
        posts: &[
            "Nos moulins partenaires, à moins de 200 km",
            "Le pain d'hier devient le pudding de demain",
            "Recette : la brioche du dimanche",
            "Visite chez notre meunier en Beauce",
        ],
        daily: 16.0,
        texts: &[
            (Kind::Praise, "Le pain au levain de Fournée est incroyable, croûte parfaite"),
            (Kind::Praise, "Fournée's croissants are the best in Paris, hands down"),
            (Kind::Praise, "Merci Fournée pour la brioche, toute la famille a adoré"),
            (Kind::Neutral, "Fournée ouvre une boulangerie dans le 11e"),
            (Kind::Neutral, "Fournée bakery now delivers on Sundays"),
            (Kind::Complaint, "Baguette Fournée trop cuite ce matin, dommage"),
            (Kind::Complaint, "Fournée delivery was an hour late and the bread was cold"),
            (Kind::Question, "@fournee vous avez des options sans gluten ?"),
            (Kind::Question, "@fournee ma commande de gâteau pour samedi est-elle confirmée ?"),
            (Kind::Accusation, "Fournée se dit locale mais sa farine vient de l'autre bout du monde"),
            (Kind::Crisis, "Intoxication après les sandwichs Fournée, toute l'équipe malade, scandaleux"),
            (Kind::Crisis, "@fournee vos sandwichs nous ont rendus malades, c'est honteux"),
            (Kind::Crisis, "Food poisoning after a Fournée sandwich, avoid them"),
        ],
        influencers: &[
            Author {
                handle: "chef_paulo",
                followers: (30_000, 160_000),
                active: (8, 60),
                rate: 0.4,
                engagement: 50,
                kinds: &[Kind::Praise, Kind::Praise, Kind::Neutral],
            },
            Author {
                handle: "foodie_london",
                followers: (420_000, 450_000),
                active: (0, 60),
                rate: 0.12,
                engagement: 15,
                kinds: &[Kind::Praise, Kind::Complaint],
            },
            Author {
                handle: "gourmande",
                followers: (75_000, 70_000),
                active: (0, 22),
                rate: 0.4,
                engagement: 25,
                kinds: &[Kind::Praise, Kind::Neutral],
            },
        ],
        crisis: Some((59, 21, false)),
        accusation_wave: None,
    },
];

/// Handles of ordinary customers.
pub const CUSTOMERS: &[&str] = &[
    "alex_m",
    "juju75",
    "nico.b",
    "sarah_k",
    "tom_green",
    "lucie.d",
    "ben_r",
    "emma.l",
    "hugo_p",
    "chloe_v",
    "max.t",
    "ines_b",
    "leo.r",
    "zoe_m",
    "sam_reviews",
    "paul.g",
    "lina_s",
    "noah.f",
    "jade_c",
    "theo.l",
];

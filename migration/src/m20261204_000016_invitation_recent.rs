//! `inviteMember` counts an agency's invitations of the last 24 hours against its daily
//! cap (`VIGIE_INVITATIONS_PER_DAY`): this index answers it from the newest entries of
//! the agency instead of every invitation it ever sent.

use sea_orm_migration::prelude::*;

use crate::builder::{NamedIndex, create_indexes, drop_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [NamedIndex; 1] =
    [("ix_invitation_agency_id_created_at", "invitation", &["agency_id", "created_at"], false)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(m, &INDEXES).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &INDEXES).await
    }
}

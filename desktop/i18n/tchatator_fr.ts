<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR" sourcelanguage="en">
<context>
    <name>AdminWindow</name>
    <message>
        <location filename="../widgets/admin.py" line="89"/>
        <source>&amp;Entries:</source>
        <translation>&amp;Entrées :</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="93"/>
        <source>Number of log entries</source>
        <translation>Nombre d&apos;entrées du journal</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="96"/>
        <source>Filter (command, address, code…)</source>
        <translation>Filtrer (commande, adresse, code…)</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="97"/>
        <source>Filter the log</source>
        <translation>Filtrer le journal</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="99"/>
        <location filename="../widgets/admin.py" line="153"/>
        <source>&amp;Refresh</source>
        <translation>&amp;Actualiser</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="106"/>
        <source>Request log</source>
        <translation>Journal des requêtes</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="108"/>
        <source>&amp;Log</source>
        <translation>&amp;Journal</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="113"/>
        <location filename="../widgets/admin.py" line="114"/>
        <source>Search a user</source>
        <translation>Rechercher un utilisateur</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="117"/>
        <source>Users</source>
        <translation>Utilisateurs</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="123"/>
        <source>&amp;Block</source>
        <translation>&amp;Bloquer</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="124"/>
        <source>Unbloc&amp;k</source>
        <translation>&amp;Débloquer</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="125"/>
        <source>B&amp;an</source>
        <translation>Ba&amp;nnir</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="126"/>
        <source>Lift &amp;ban</source>
        <translation>&amp;Lever le ban</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="136"/>
        <source>Select a customer to moderate.</source>
        <translation>Choisissez un client à modérer.</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="139"/>
        <source>&amp;Users</source>
        <translation>&amp;Utilisateurs</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="144"/>
        <source>Blocks and bans in force</source>
        <translation>Blocages et bannissements en cours</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="147"/>
        <source>&amp;Sanctions</source>
        <translation>&amp;Sanctions</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="152"/>
        <source>&amp;File</source>
        <translation>&amp;Fichier</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="157"/>
        <source>Reload the server &amp;configuration</source>
        <translation>Recharger la &amp;configuration du serveur</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="163"/>
        <source>Actions</source>
        <translation>Actions</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="193"/>
        <source>Reload the server configuration</source>
        <translation>Recharger la configuration du serveur</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="214"/>
        <source>admin</source>
        <translation>admin</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="242"/>
        <source>customer %1</source>
        <translation>client n°%1</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="285"/>
        <source>Block %1? They cannot write to anyone for a while.</source>
        <translation>Bloquer %1 ? Ce client ne pourra plus écrire à personne pendant un temps.</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="287"/>
        <source>Ban %1? They cannot write to anyone until the ban is lifted.</source>
        <translation>Bannir %1 ? Ce client ne pourra plus écrire à personne tant que le ban n&apos;est pas levé.</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="301"/>
        <source>block</source>
        <translation>blocage</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="301"/>
        <source>ban</source>
        <translation>ban</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="307"/>
        <source>%1 cannot write to anyone for a while.</source>
        <translation>%1 ne peut plus écrire à personne pendant un temps.</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="308"/>
        <source>%1 can write again.</source>
        <translation>%1 peut de nouveau écrire.</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="309"/>
        <source>%1 cannot write to anyone until the ban is lifted.</source>
        <translation>%1 ne peut plus écrire à personne tant que le ban n&apos;est pas levé.</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="310"/>
        <source>Every ban on %1 is lifted.</source>
        <translation>Bans levés pour %1.</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="78"/>
        <location filename="../widgets/admin.py" line="290"/>
        <source>Moderation</source>
        <translation>Modération</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="292"/>
        <source>&amp;Confirm</source>
        <translation>&amp;Confirmer</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="321"/>
        <source>none</source>
        <translation>aucune</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="323"/>
        <source>Configuration reloaded. Changed: %1.</source>
        <translation>Configuration rechargée. Clés modifiées : %1.</translation>
    </message>
    <message>
        <location filename="../widgets/admin.py" line="325"/>
        <source>Needs a restart: %1.</source>
        <translation>À appliquer au redémarrage : %1.</translation>
    </message>
</context>
<context>
    <name>ChatWindow</name>
    <message>
        <location filename="../widgets/chat.py" line="246"/>
        <source>Search a conversation</source>
        <translation>Rechercher une conversation</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="175"/>
        <source>&amp;File</source>
        <translation>&amp;Fichier</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="176"/>
        <source>&amp;Refresh</source>
        <translation>&amp;Actualiser</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="180"/>
        <source>&amp;Conversation</source>
        <translation>&amp;Conversation</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="181"/>
        <source>&amp;New conversation…</source>
        <translation>&amp;Nouvelle conversation…</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="187"/>
        <source>&amp;Search a conversation</source>
        <translation>&amp;Rechercher une conversation</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="191"/>
        <source>&amp;Find in the conversation</source>
        <translation>&amp;Chercher dans la conversation</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="195"/>
        <source>Next &amp;unread conversation</source>
        <translation>Conversation non l&amp;ue suivante</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="199"/>
        <source>Jump to the &amp;latest message</source>
        <translation>Aller au &amp;dernier message</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="203"/>
        <source>&amp;Write a message</source>
        <translation>É&amp;crire un message</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="215"/>
        <source>&amp;Moderation</source>
        <translation>&amp;Modération</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="217"/>
        <source>&amp;Block this customer…</source>
        <translation>&amp;Bloquer ce client…</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="220"/>
        <source>Un&amp;block this customer</source>
        <translation>&amp;Débloquer ce client</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="223"/>
        <source>B&amp;an this customer…</source>
        <translation>Ba&amp;nnir ce client…</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="226"/>
        <source>&amp;Lift the ban</source>
        <translation>&amp;Lever le ban</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="235"/>
        <source>&amp;Blocks and bans…</source>
        <translation>Blocages et &amp;bans…</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="244"/>
        <source>Send the message</source>
        <translation>Envoyer le message</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="245"/>
        <source>New line in the message</source>
        <translation>Nouvelle ligne dans le message</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="247"/>
        <source>Find in the conversation</source>
        <translation>Chercher dans la conversation</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="248"/>
        <source>Next unread conversation</source>
        <translation>Conversation non lue suivante</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="249"/>
        <source>Jump to the latest message</source>
        <translation>Aller au dernier message</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="250"/>
        <source>Write a message</source>
        <translation>Écrire un message</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="251"/>
        <source>Edit the selected message</source>
        <translation>Modifier le message choisi</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="252"/>
        <source>Delete the selected message</source>
        <translation>Supprimer le message choisi</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="253"/>
        <source>Details of the selected message</source>
        <translation>Détails du message choisi</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="256"/>
        <source>Edit my last message</source>
        <translation>Modifier mon dernier message</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="258"/>
        <source>Cancel editing</source>
        <translation>Annuler la modification</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="261"/>
        <source>New conversation</source>
        <translation>Nouvelle conversation</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="263"/>
        <source>Blocks and bans</source>
        <translation>Blocages et bannissements</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="351"/>
        <source>%1 Trying again in %2 s.</source>
        <translation>%1 Nouvel essai dans %2 s.</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="360"/>
        <location filename="../widgets/chat.py" line="440"/>
        <source>Loading…</source>
        <translation>Chargement…</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="463"/>
        <source>No unread conversation.</source>
        <translation>Aucune conversation non lue.</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="255"/>
        <source>%1 (empty message)</source>
        <translation>%1 (message vide)</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="601"/>
        <source>Delete the message</source>
        <translation>Supprimer le message</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="602"/>
        <source>Delete this message? Its text is erased for both of you.</source>
        <translation>Supprimer ce message ? Son texte sera effacé pour vous deux.</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="603"/>
        <source>&amp;Delete</source>
        <translation>&amp;Supprimer</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="667"/>
        <source>someone</source>
        <translation>quelqu&apos;un</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="670"/>
        <source>New message from %1</source>
        <translation>Nouveau message de %1</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="710"/>
        <source>Block</source>
        <translation>Bloquer</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="711"/>
        <source>Block %1? They cannot write to you for %2 h.</source>
        <translation>Bloquer %1 ? Ce client ne pourra plus vous écrire pendant %2 h.</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="714"/>
        <source>&amp;Block</source>
        <translation>&amp;Bloquer</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="725"/>
        <source>Ban</source>
        <translation>Bannir</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="726"/>
        <source>Ban %1? They cannot write to you until you lift the ban.</source>
        <translation>Bannir %1 ? Ce client ne pourra plus vous écrire tant que vous ne levez pas le ban.</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="729"/>
        <source>B&amp;an</source>
        <translation>Ba&amp;nnir</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="739"/>
        <source>blocked</source>
        <translation>bloqué·e</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="741"/>
        <source>banned</source>
        <translation>banni·e</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="764"/>
        <source>%1 is blocked until %2.</source>
        <translation>%1 ne peut plus vous écrire jusqu&apos;au %2.</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="765"/>
        <source>%1 can write to you again.</source>
        <translation>%1 peut de nouveau vous écrire.</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="766"/>
        <source>%1 is banned until you lift the ban.</source>
        <translation>%1 ne peut plus vous écrire tant que vous ne levez pas le ban.</translation>
    </message>
    <message>
        <location filename="../widgets/chat.py" line="767"/>
        <source>The ban on %1 is lifted.</source>
        <translation>Ban levé pour %1.</translation>
    </message>
</context>
<context>
    <name>Composer</name>
    <message>
        <location filename="../widgets/composer.py" line="79"/>
        <source>Editing a message (Escape cancels)</source>
        <translation>Modification d&apos;un message (Échap pour annuler)</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="81"/>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="82"/>
        <source>Cancel editing</source>
        <translation>Annuler la modification</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="93"/>
        <source>Write a message… (Enter sends, Shift+Enter: new line)</source>
        <translation>Écrire un message… (Entrée envoie, Maj+Entrée : nouvelle ligne)</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="95"/>
        <source>Message to send</source>
        <translation>Message à envoyer</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="97"/>
        <source>Enter sends the message, Shift+Enter adds a line.</source>
        <translation>Entrée envoie le message, Maj+Entrée ajoute une ligne.</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="103"/>
        <location filename="../widgets/composer.py" line="184"/>
        <source>&amp;Send</source>
        <translation>&amp;Envoyer</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="105"/>
        <location filename="../widgets/composer.py" line="185"/>
        <location filename="../widgets/composer.py" line="245"/>
        <source>Send (Enter)</source>
        <translation>Envoyer (Entrée)</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="106"/>
        <source>Send the message</source>
        <translation>Envoyer le message</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="110"/>
        <source>Characters used</source>
        <translation>Caractères utilisés</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="173"/>
        <source>&amp;Save</source>
        <translation>&amp;Enregistrer</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="174"/>
        <location filename="../widgets/composer.py" line="240"/>
        <source>Save the change (Enter)</source>
        <translation>Enregistrer la modification (Entrée)</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="199"/>
        <source>Choose a conversation first.</source>
        <translation>Choisissez d&apos;abord une conversation.</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="201"/>
        <source>Offline: the change can be saved once the connection is back.</source>
        <translation>Hors ligne : la modification pourra être enregistrée au retour de la connexion.</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="243"/>
        <source>Offline: the message will be sent when the connection is back.</source>
        <translation>Hors ligne : le message partira au retour de la connexion.</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="203"/>
        <source>Sending…</source>
        <translation>Envoi…</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="205"/>
        <source>The message is empty.</source>
        <translation>Le message est vide.</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="207"/>
        <source>The message is too long.</source>
        <translation>Le message est trop long.</translation>
    </message>
    <message>
        <location filename="../widgets/composer.py" line="231"/>
        <source>Over the limit of %1 characters</source>
        <translation>Au-delà de la limite de %1 caractères</translation>
    </message>
</context>
<context>
    <name>ConversationDelegate</name>
    <message>
        <location filename="../delegates.py" line="454"/>
        <source>You: %1</source>
        <translation>Vous : %1</translation>
    </message>
    <message>
        <location filename="../delegates.py" line="456"/>
        <source>No message yet</source>
        <translation>Pas encore de message</translation>
    </message>
    <message>
        <location filename="../delegates.py" line="460"/>
        <source>Draft: %1</source>
        <translation>Brouillon : %1</translation>
    </message>
</context>
<context>
    <name>ConversationList</name>
    <message>
        <location filename="../widgets/conversation_list.py" line="64"/>
        <source>Search (Ctrl+K)</source>
        <translation>Rechercher (Ctrl+K)</translation>
    </message>
    <message>
        <location filename="../widgets/conversation_list.py" line="65"/>
        <source>Search a conversation</source>
        <translation>Rechercher une conversation</translation>
    </message>
    <message>
        <location filename="../widgets/conversation_list.py" line="68"/>
        <source>&amp;New conversation</source>
        <translation>&amp;Nouvelle conversation</translation>
    </message>
    <message>
        <location filename="../widgets/conversation_list.py" line="70"/>
        <source>Write to a professional (Ctrl+N)</source>
        <translation>Écrire à un professionnel (Ctrl+N)</translation>
    </message>
    <message>
        <location filename="../widgets/conversation_list.py" line="75"/>
        <source>Conversations</source>
        <translation>Conversations</translation>
    </message>
</context>
<context>
    <name>ConversationListModel</name>
    <message>
        <location filename="../models/conversations.py" line="79"/>
        <location filename="../models/conversations.py" line="104"/>
        <source>Message deleted</source>
        <translation>Message supprimé</translation>
    </message>
    <message numerus="yes">
        <location filename="../models/conversations.py" line="100"/>
        <source>%n unread message(s)</source>
        <translation>
            <numerusform>%n message non lu</numerusform>
            <numerusform>%n messages non lus</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../models/conversations.py" line="105"/>
        <source>You</source>
        <translation>Vous</translation>
    </message>
</context>
<context>
    <name>ConversationPane</name>
    <message>
        <location filename="../widgets/conversation.py" line="568"/>
        <source>Choose a conversation in the list.</source>
        <translation>Choisissez une conversation dans la liste.</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="586"/>
        <source>Conversation with</source>
        <translation>Conversation avec</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="592"/>
        <source>&amp;Block</source>
        <translation>&amp;Bloquer</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="594"/>
        <source>Stop this customer writing to you for a while</source>
        <translation>Empêcher ce client de vous écrire pendant un temps</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="595"/>
        <source>Unbloc&amp;k</source>
        <translation>&amp;Débloquer</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="597"/>
        <source>B&amp;an</source>
        <translation>Ba&amp;nnir</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="599"/>
        <source>Stop this customer writing to you until you lift it</source>
        <translation>Empêcher ce client de vous écrire jusqu&apos;à la levée du ban</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="600"/>
        <source>Lift &amp;ban</source>
        <translation>&amp;Lever le ban</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="657"/>
        <source>No result</source>
        <translation>Aucun résultat</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="660"/>
        <source>%1 of %2</source>
        <translation>%1 sur %2</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="682"/>
        <source>Messages with %1</source>
        <translation>Messages avec %1</translation>
    </message>
    <message numerus="yes">
        <location filename="../widgets/conversation.py" line="692"/>
        <source>%n message(s) waiting for the connection:</source>
        <translation>
            <numerusform>%n message en attente de connexion :</numerusform>
            <numerusform>%n messages en attente de connexion :</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="712"/>
        <source>customer</source>
        <translation>client</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="712"/>
        <source>professional</source>
        <translation>professionnel</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="715"/>
        <source>blocked until %1</source>
        <translation>bloqué·e jusqu&apos;au %1</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="717"/>
        <source>banned</source>
        <translation>banni·e</translation>
    </message>
</context>
<context>
    <name>DirectoryDialog</name>
    <message>
        <location filename="../widgets/dialogs.py" line="191"/>
        <source>New conversation</source>
        <translation>Nouvelle conversation</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="194"/>
        <source>Choose the professional you want to write to.</source>
        <translation>Choisissez le professionnel à qui écrire.</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="198"/>
        <source>Search by name</source>
        <translation>Rechercher par nom</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="199"/>
        <source>Search professionals</source>
        <translation>Rechercher un professionnel</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="204"/>
        <source>Professionals</source>
        <translation>Professionnels</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="218"/>
        <source>Write</source>
        <translation>Écrire</translation>
    </message>
</context>
<context>
    <name>Errors</name>
    <message>
        <location filename="../errors.py" line="61"/>
        <source>The message is empty or malformed: nothing was sent.</source>
        <translation>Le message est vide ou mal formé : rien n&apos;a été envoyé.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="63"/>
        <source>The configuration file is invalid: the server kept its settings.</source>
        <translation>Le fichier de configuration est invalide : le serveur garde ses réglages.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="66"/>
        <source>The server refused the request as malformed.</source>
        <translation>Le serveur a refusé la requête comme mal formée.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="69"/>
        <source>This API key (or session) is not valid on this server.</source>
        <translation>Cette clé d&apos;API (ou cette session) n&apos;est pas valable sur ce serveur.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="70"/>
        <source>Your session is no longer valid: log in again.</source>
        <translation>Votre session n&apos;est plus valable : reconnectez-vous.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="73"/>
        <source>You cannot write to this person: a block or a ban is in force, or the rules do not allow it.</source>
        <translation>Vous ne pouvez pas écrire à cette personne : un blocage ou un bannissement est en cours, ou les règles ne le permettent pas.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="79"/>
        <source>Only the sender of a message can change it.</source>
        <translation>Seul l&apos;expéditeur d&apos;un message peut le modifier.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="81"/>
        <source>This message is not one of yours.</source>
        <translation>Ce message ne vous concerne pas.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="82"/>
        <source>You are not allowed to do this.</source>
        <translation>Vous n&apos;avez pas le droit de faire cela.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="85"/>
        <source>There is no ban to lift on this customer.</source>
        <translation>Ce client n&apos;a pas de ban à lever.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="87"/>
        <source>There is no block to lift on this customer.</source>
        <translation>Ce client n&apos;a pas de blocage à lever.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="89"/>
        <source>This customer does not exist.</source>
        <translation>Ce client n&apos;existe pas.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="91"/>
        <source>This message does not exist any more.</source>
        <translation>Ce message n&apos;existe plus.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="93"/>
        <source>The server cannot find its configuration file.</source>
        <translation>Le serveur ne trouve pas son fichier de configuration.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="94"/>
        <source>This person does not exist (any more).</source>
        <translation>Cette personne n&apos;existe pas (ou plus).</translation>
    </message>
    <message>
        <location filename="../errors.py" line="97"/>
        <source>You have already blocked this customer.</source>
        <translation>Vous avez déjà bloqué ce client.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="99"/>
        <source>You have already banned this customer.</source>
        <translation>Vous avez déjà banni ce client.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="100"/>
        <source>This is already done.</source>
        <translation>C&apos;est déjà fait.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="104"/>
        <source>The message is too long: at most %1 characters.</source>
        <translation>Le message est trop long : %1 caractères au plus.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="107"/>
        <source>The request is too long for the server.</source>
        <translation>La requête est trop longue pour le serveur.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="109"/>
        <source>This page of the list does not exist any more; refresh.</source>
        <translation>Cette page de la liste n&apos;existe plus ; actualisez.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="113"/>
        <source>Too many requests: you can try again in %1 s.</source>
        <translation>Trop de requêtes : vous pourrez réessayer dans %1 s.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="116"/>
        <source>Too many requests: wait a moment before trying again.</source>
        <translation>Trop de requêtes : patientez un instant avant de réessayer.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="118"/>
        <source>The server failed to handle this request; try again later.</source>
        <translation>Le serveur n&apos;a pas pu traiter cette requête ; réessayez plus tard.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="120"/>
        <source>The server is not available for now; try again later.</source>
        <translation>Le serveur n&apos;est pas disponible pour l&apos;instant ; réessayez plus tard.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="121"/>
        <source>Unexpected answer from the server (code %1).</source>
        <translation>Réponse inattendue du serveur (code %1).</translation>
    </message>
    <message>
        <location filename="../errors.py" line="128"/>
        <source>No connection to the server: the message was not sent.</source>
        <translation>Pas de connexion au serveur : le message n&apos;a pas été envoyé.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="130"/>
        <source>Cannot reach the server: check its address and that it is running.</source>
        <translation>Impossible de joindre le serveur : vérifiez son adresse et qu&apos;il est démarré.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="133"/>
        <source>No connection to the server: the action was not done.</source>
        <translation>Pas de connexion au serveur : l&apos;action n&apos;a pas été faite.</translation>
    </message>
    <message>
        <location filename="../errors.py" line="148"/>
        <source>Unexpected error: %1</source>
        <translation>Erreur inattendue : %1</translation>
    </message>
    <message>
        <location filename="../service.py" line="590"/>
        <source>The server presented a certificate that the trusted authority did not issue: nothing was sent. If the server&apos;s certificates were regenerated, log in again and confirm its new fingerprint.</source>
        <translation>Le serveur présente un certificat que l&apos;autorité approuvée n&apos;a pas émis : rien n&apos;a été envoyé. Si ses certificats ont été régénérés, reconnectez-vous et confirmez sa nouvelle empreinte.</translation>
    </message>
</context>
<context>
    <name>FindBar</name>
    <message>
        <location filename="../widgets/conversation.py" line="504"/>
        <location filename="../widgets/conversation.py" line="505"/>
        <source>Find in the conversation</source>
        <translation>Chercher dans la conversation</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="513"/>
        <source>Close (Escape)</source>
        <translation>Fermer (Échap)</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="514"/>
        <source>Close the search</source>
        <translation>Fermer la recherche</translation>
    </message>
</context>
<context>
    <name>FingerprintDialog</name>
    <message>
        <location filename="../widgets/login.py" line="77"/>
        <source>Check the server&apos;s certificate</source>
        <translation>Vérifier le certificat du serveur</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="81"/>
        <source>First connection to %1. Compare this SHA-256 fingerprint with the one the server printed when it started (&quot;CA fingerprint&quot;), or ask its operator. Continue only if they are identical: otherwise someone may be impersonating the server. Nothing has been sent yet.</source>
        <translation>Première connexion à %1. Comparez cette empreinte SHA-256 avec celle que le serveur affiche à son démarrage (« CA fingerprint »), ou demandez-la à son administrateur. Ne continuez que si elles sont identiques : sinon, quelqu&apos;un se fait peut-être passer pour le serveur. Rien n&apos;a encore été envoyé.</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="102"/>
        <source>Fingerprint</source>
        <translation>Empreinte</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="107"/>
        <source>&amp;Trust this server</source>
        <translation>&amp;Faire confiance à ce serveur</translation>
    </message>
</context>
<context>
    <name>InfoDialog</name>
    <message>
        <location filename="../widgets/dialogs.py" line="104"/>
        <source>Message details</source>
        <translation>Détails du message</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="130"/>
        <source>Number</source>
        <translation>Numéro</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="131"/>
        <source>From</source>
        <translation>De</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="132"/>
        <source>To</source>
        <translation>À</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="133"/>
        <source>Sent</source>
        <translation>Envoyé</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="134"/>
        <source>Edited</source>
        <translation>Modifié</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="135"/>
        <source>Read</source>
        <translation>Lu</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="136"/>
        <source>Deleted</source>
        <translation>Supprimé</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="138"/>
        <source>Text</source>
        <translation>Texte</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="139"/>
        <source>(erased)</source>
        <translation>(effacé)</translation>
    </message>
</context>
<context>
    <name>LogModel</name>
    <message>
        <location filename="../models/admin.py" line="99"/>
        <source>Time</source>
        <translation>Heure</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="100"/>
        <source>Address</source>
        <translation>Adresse</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="101"/>
        <source>User</source>
        <translation>Utilisateur</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="102"/>
        <source>Command</source>
        <translation>Commande</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="103"/>
        <source>Code</source>
        <translation>Code</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="104"/>
        <source>Duration (ms)</source>
        <translation>Durée (ms)</translation>
    </message>
</context>
<context>
    <name>LoginDialog</name>
    <message>
        <location filename="../widgets/login.py" line="143"/>
        <source>Log in</source>
        <translation>Connexion</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="147"/>
        <source>Professional space</source>
        <translation>Espace professionnel</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="147"/>
        <source>Customer space</source>
        <translation>Espace client</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="158"/>
        <source>Server address</source>
        <translation>Adresse du serveur</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="160"/>
        <source>&amp;Server:</source>
        <translation>&amp;Serveur :</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="164"/>
        <source>API key</source>
        <translation>Clé d&apos;API</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="166"/>
        <source>Show</source>
        <translation>Afficher</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="168"/>
        <location filename="../widgets/login.py" line="169"/>
        <source>Show the key</source>
        <translation>Afficher la clé</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="178"/>
        <source>API &amp;key:</source>
        <translation>&amp;Clé d&apos;API :</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="183"/>
        <source>Trusting the server (TLS)</source>
        <translation>Confiance dans le serveur (TLS)</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="187"/>
        <source>The server&apos;s &amp;CA file (certs/ca.pem)</source>
        <translation>&amp;Fichier de l&apos;autorité du serveur (certs/ca.pem)</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="190"/>
        <source>&amp;Fetch the certificate and check its fingerprint</source>
        <translation>&amp;Récupérer le certificat et vérifier son empreinte</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="201"/>
        <source>CA file</source>
        <translation>Fichier de l&apos;autorité</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="206"/>
        <source>&amp;Browse…</source>
        <translation>&amp;Parcourir…</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="218"/>
        <source>Remember the key in the system keyring</source>
        <translation>Retenir la clé dans le trousseau du système</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="220"/>
        <source>Remember the key on this computer</source>
        <translation>Retenir la clé sur cet ordinateur</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="223"/>
        <source>No system keyring here: the key would be kept in %1, readable by you only.</source>
        <translation>Pas de trousseau système ici : la clé serait gardée dans %1, lisible par vous seul.</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="229"/>
        <source>No system keyring: a remembered key goes to a file only you can read.</source>
        <translation>Pas de trousseau système : une clé retenue est gardée dans un fichier que vous seul pouvez lire.</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="243"/>
        <source>&amp;Connect</source>
        <translation>Se &amp;connecter</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="247"/>
        <source>&amp;Quit</source>
        <translation>&amp;Quitter</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="294"/>
        <source>Already trusted (fingerprint %1…)</source>
        <translation>Déjà approuvé (empreinte %1…)</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="310"/>
        <source>The server&apos;s CA certificate</source>
        <translation>Certificat de l&apos;autorité du serveur</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="311"/>
        <source>Certificates (*.pem *.crt)</source>
        <translation>Certificats (*.pem *.crt)</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="311"/>
        <source>All files (*)</source>
        <translation>Tous les fichiers (*)</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="348"/>
        <source>Connecting…</source>
        <translation>Connexion…</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="362"/>
        <source>The server address is not valid (host:port).</source>
        <translation>L&apos;adresse du serveur n&apos;est pas valide (hôte:port).</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="367"/>
        <source>Enter your API key.</source>
        <translation>Saisissez votre clé d&apos;API.</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="403"/>
        <source>Cannot read the CA file %1.</source>
        <translation>Impossible de lire le fichier d&apos;autorité %1.</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="411"/>
        <source>Fetching the server&apos;s certificate…</source>
        <translation>Récupération du certificat du serveur…</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="421"/>
        <source>Certificate not trusted: nothing was sent.</source>
        <translation>Certificat refusé : rien n&apos;a été envoyé.</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="429"/>
        <source>The server&apos;s certificate was not issued by this authority: the key was not sent. If the server&apos;s certificates were regenerated, choose to fetch the certificate and check its new fingerprint.</source>
        <translation>Le certificat du serveur n&apos;a pas été émis par cette autorité : la clé n&apos;a pas été envoyée. Si les certificats du serveur ont été régénérés, choisissez de récupérer le certificat et vérifiez sa nouvelle empreinte.</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="436"/>
        <source>This is not a usable CA certificate.</source>
        <translation>Ce n&apos;est pas un certificat d&apos;autorité utilisable.</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="448"/>
        <source>This key is a customer&apos;s: open Tchatator (customer app).</source>
        <translation>Cette clé est celle d&apos;un client : ouvrez Tchatator (application client).</translation>
    </message>
    <message>
        <location filename="../widgets/login.py" line="450"/>
        <source>This key is a professional&apos;s: open Tchatator Pro.</source>
        <translation>Cette clé est celle d&apos;un professionnel : ouvrez Tchatator Pro.</translation>
    </message>
</context>
<context>
    <name>MessageDelegate</name>
    <message>
        <location filename="../delegates.py" line="340"/>
        <source>Message deleted</source>
        <translation>Message supprimé</translation>
    </message>
    <message>
        <location filename="../delegates.py" line="340"/>
        <source>edited</source>
        <translation>modifié</translation>
    </message>
    <message>
        <location filename="../delegates.py" line="340"/>
        <source>New messages</source>
        <translation>Nouveaux messages</translation>
    </message>
</context>
<context>
    <name>MessageListView</name>
    <message>
        <location filename="../widgets/conversation.py" line="88"/>
        <source>Messages</source>
        <translation>Messages</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="111"/>
        <location filename="../widgets/conversation.py" line="313"/>
        <source>↓ Latest</source>
        <translation>↓ Derniers messages</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="112"/>
        <source>Jump to the latest message (Alt+End)</source>
        <translation>Aller au dernier message (Alt+Fin)</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="113"/>
        <source>Jump to the latest message</source>
        <translation>Aller au dernier message</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="130"/>
        <source>&amp;Copy text</source>
        <translation>&amp;Copier le texte</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="133"/>
        <source>&amp;Details…</source>
        <translation>&amp;Détails…</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="136"/>
        <source>&amp;Edit</source>
        <translation>&amp;Modifier</translation>
    </message>
    <message>
        <location filename="../widgets/conversation.py" line="139"/>
        <source>De&amp;lete…</source>
        <translation>&amp;Supprimer…</translation>
    </message>
    <message numerus="yes">
        <location filename="../widgets/conversation.py" line="315"/>
        <source>↓ %n new message(s)</source>
        <translation>
            <numerusform>↓ %n nouveau message</numerusform>
            <numerusform>↓ %n nouveaux messages</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>MessageModel</name>
    <message>
        <location filename="../models/messages.py" line="138"/>
        <location filename="../models/messages.py" line="166"/>
        <source>Message deleted</source>
        <translation>Message supprimé</translation>
    </message>
    <message>
        <location filename="../models/messages.py" line="165"/>
        <source>You</source>
        <translation>Vous</translation>
    </message>
    <message>
        <location filename="../models/messages.py" line="165"/>
        <source>Them</source>
        <translation>Correspondant</translation>
    </message>
    <message>
        <location filename="../models/messages.py" line="169"/>
        <source>edited</source>
        <translation>modifié</translation>
    </message>
    <message>
        <location filename="../models/messages.py" line="171"/>
        <source>read</source>
        <translation>lu</translation>
    </message>
    <message>
        <location filename="../models/messages.py" line="171"/>
        <source>sent</source>
        <translation>envoyé</translation>
    </message>
</context>
<context>
    <name>NoticeBar</name>
    <message>
        <location filename="../widgets/notice.py" line="69"/>
        <location filename="../widgets/notice.py" line="70"/>
        <source>Dismiss</source>
        <translation>Fermer</translation>
    </message>
</context>
<context>
    <name>PlainLabel</name>
    <message>
        <location filename="../plain.py" line="155"/>
        <source>&amp;Copy</source>
        <translation>&amp;Copier</translation>
    </message>
    <message>
        <location filename="../plain.py" line="159"/>
        <source>Select All</source>
        <translation>Tout sélectionner</translation>
    </message>
</context>
<context>
    <name>RestrictionModel</name>
    <message>
        <location filename="../models/admin.py" line="158"/>
        <source>Customer</source>
        <translation>Client</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="158"/>
        <source>Kind</source>
        <translation>Type</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="158"/>
        <source>By</source>
        <translation>Par</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="158"/>
        <source>Until</source>
        <translation>Jusqu&apos;au</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="166"/>
        <source>Block</source>
        <comment>a sanction in force</comment>
        <translation>Blocage</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="167"/>
        <source>Ban</source>
        <comment>a sanction in force</comment>
        <translation>Ban</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="170"/>
        <source>admin</source>
        <translation>admin</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="173"/>
        <source>until lifted</source>
        <translation>jusqu&apos;à levée</translation>
    </message>
</context>
<context>
    <name>SanctionsDialog</name>
    <message>
        <location filename="../widgets/dialogs.py" line="277"/>
        <source>Blocks and bans</source>
        <translation>Blocages et bannissements</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="280"/>
        <source>Customers you blocked or banned, in force now.</source>
        <translation>Les clients que vous avez bloqués ou bannis, en ce moment.</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="285"/>
        <source>Blocks and bans in force</source>
        <translation>Blocages et bannissements en cours</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="289"/>
        <source>&amp;Lift</source>
        <translation>&amp;Lever</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="290"/>
        <source>Lift the selected block or ban</source>
        <translation>Lever le blocage ou le ban choisi</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="291"/>
        <source>&amp;Refresh</source>
        <translation>&amp;Actualiser</translation>
    </message>
    <message>
        <location filename="../widgets/dialogs.py" line="295"/>
        <source>Close</source>
        <translation>Fermer</translation>
    </message>
</context>
<context>
    <name>ServiceWindow</name>
    <message>
        <location filename="../widgets/base.py" line="157"/>
        <source>&amp;Language</source>
        <translation>&amp;Langue</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="167"/>
        <source>Change &amp;account…</source>
        <translation>Changer de &amp;compte…</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="170"/>
        <source>&amp;Quit</source>
        <translation>&amp;Quitter</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="174"/>
        <source>&amp;Help</source>
        <translation>&amp;Aide</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="175"/>
        <source>&amp;Keyboard shortcuts</source>
        <translation>&amp;Raccourcis clavier</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="182"/>
        <source>Refresh</source>
        <translation>Actualiser</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="183"/>
        <source>Quit</source>
        <translation>Quitter</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="184"/>
        <source>This list</source>
        <translation>Cette liste</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="207"/>
        <source>Change account</source>
        <translation>Changer de compte</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="209"/>
        <source>Log out of this account? You will need its key to log in again (a remembered key is forgotten).</source>
        <translation>Se déconnecter de ce compte ? Il faudra sa clé pour s&apos;y reconnecter (une clé mémorisée est oubliée).</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="212"/>
        <source>&amp;Log out</source>
        <translation>Se &amp;déconnecter</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="239"/>
        <source>Connected</source>
        <translation>Connecté</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="240"/>
        <source>Connecting…</source>
        <translation>Connexion…</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="241"/>
        <source>Offline</source>
        <translation>Hors ligne</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="258"/>
        <source>Connection lost. Reconnecting…</source>
        <translation>Connexion perdue. Reconnexion…</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="261"/>
        <location filename="../widgets/base.py" line="272"/>
        <source>Offline: reconnecting…</source>
        <translation>Hors ligne : reconnexion en cours…</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="267"/>
        <source>Offline: nothing is sent. Next connection attempt in %1 s.</source>
        <translation>Hors ligne : rien n&apos;est envoyé. Nouvelle tentative de connexion dans %1 s.</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="270"/>
        <source>&amp;Retry now</source>
        <translation>&amp;Réessayer maintenant</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="278"/>
        <source>Connection restored.</source>
        <translation>Connexion rétablie.</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="284"/>
        <source>Your session has ended and the key was refused: log in again.</source>
        <translation>Votre session a pris fin et la clé a été refusée : reconnectez-vous.</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="286"/>
        <source>Log &amp;in again</source>
        <translation>Se &amp;reconnecter</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="293"/>
        <source>Too many requests: you can try again in %1 s.</source>
        <translation>Trop de requêtes : vous pourrez réessayer dans %1 s.</translation>
    </message>
    <message>
        <location filename="../widgets/base.py" line="325"/>
        <source>&amp;Open</source>
        <translation>&amp;Ouvrir</translation>
    </message>
</context>
<context>
    <name>ShortcutsDialog</name>
    <message>
        <location filename="../widgets/dialogs.py" line="314"/>
        <source>Keyboard shortcuts</source>
        <translation>Raccourcis clavier</translation>
    </message>
</context>
<context>
    <name>Time</name>
    <message>
        <location filename="../formatting.py" line="36"/>
        <source>Today</source>
        <translation>Aujourd&apos;hui</translation>
    </message>
    <message>
        <location filename="../formatting.py" line="38"/>
        <source>Yesterday</source>
        <translation>Hier</translation>
    </message>
</context>
<context>
    <name>UserTableModel</name>
    <message>
        <location filename="../models/admin.py" line="226"/>
        <source>Name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="226"/>
        <source>Role</source>
        <translation>Rôle</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="226"/>
        <source>Id</source>
        <translation>N°</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="226"/>
        <source>Sanctions</source>
        <translation>Sanctions</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="232"/>
        <source>customer</source>
        <translation>client</translation>
    </message>
    <message>
        <location filename="../models/admin.py" line="232"/>
        <source>professional</source>
        <translation>professionnel</translation>
    </message>
</context>
</TS>

<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en_GB" sourcelanguage="en">
<context>
    <name>ConversationListModel</name>
    <message numerus="yes">
        <location filename="../models/conversations.py" line="100"/>
        <source>%n unread message(s)</source>
        <translation>
            <numerusform>%n unread message</numerusform>
            <numerusform>%n unread messages</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ConversationPane</name>
    <message numerus="yes">
        <location filename="../widgets/conversation.py" line="692"/>
        <source>%n message(s) waiting for the connection:</source>
        <translation>
            <numerusform>%n message waiting for the connection:</numerusform>
            <numerusform>%n messages waiting for the connection:</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>MessageListView</name>
    <message numerus="yes">
        <location filename="../widgets/conversation.py" line="315"/>
        <source>↓ %n new message(s)</source>
        <translation>
            <numerusform>↓ %n new message</numerusform>
            <numerusform>↓ %n new messages</numerusform>
        </translation>
    </message>
</context>
</TS>
